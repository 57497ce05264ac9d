"""``humans`` section: present when the dataset carries a vote matrix (``votes_<label>`` columns, e.g. FER+).

How much the annotators agree with one another on the evaluated faces, and how each model compares with them
on the same faces (plurality accuracy and kappa, soft accuracy, alpha with the model as one more rater); see
:mod:`ferbench.metrics.humans`. Votes for labels outside the evaluated set and unknown / not-a-face votes are
left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluate import EvalContext
from ..metrics.humans import humans_block
from ..sections import section


@section(
    "humans",
    title="Human annotators",
    order=40,
    template="humans.html.j2",
    figures="ferbench.report.figures_agreement:section_figures",
)
def humans_section(ctx: EvalContext) -> dict[str, Any] | None:
    cols = [f"votes_{lab}" for lab in ctx.ev.labels]
    if not any(c in ctx.samples.columns for c in cols):
        return None
    s = ctx.samples.reset_index(drop=True)
    votes = np.stack(
        [
            s[c].fillna(0).to_numpy(dtype=np.int64) if c in s.columns else np.zeros(len(s), np.int64)
            for c in cols
        ],
        axis=1,
    )
    preds = {mid: ctx.ev.pred[:, j] for j, mid in enumerate(ctx.ev.model_ids)}
    out = humans_block(votes, ctx.ev.labels, preds, seed=ctx.seed)
    out["note"] = (
        "votes for labels outside the evaluated set and unknown / not-a-face votes are left out; "
        "soft accuracy is comparable with the annotators' percent agreement"
    )
    return out
