"""``agreement_levels`` section: the agreement statistics again after mapping labels to coarser levels.

Answers the critique that models may disagree on eight fine labels yet agree on the coarse question (is the
face pleasant or unpleasant?). See :mod:`ferbench.metrics.levels` for the levels and the surprise rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluate import EvalContext
from ..metrics.agreement_summary import ratings_block
from ..metrics.levels import LEVELS
from ..sections import section


def true_indices(y_true: np.ndarray) -> np.ndarray:
    """Dataset label indices as int64 with ``-1`` where a sample has no evaluated label."""
    y = np.asarray(y_true, dtype=np.float64)
    return np.where(np.isfinite(y), y, -1).astype(np.int64)


@section(
    "agreement_levels",
    title="Coarser levels",
    order=20,
    template="agreement_levels.html.j2",
    figures="ferbench.report.figures_agreement:section_figures",
)
def agreement_levels_section(ctx: EvalContext) -> dict[str, Any] | None:
    ev = ctx.ev
    if len(ev.model_ids) < 2:
        return None
    out: dict[str, Any] = {"levels": {}}
    y_fine = true_indices(ev.y_true)
    for level in LEVELS:
        classes = level.classes(ev.labels)
        coarse = level.apply(ev.pred, ev.labels)
        block = ratings_block(coarse, classes, ev.model_ids, seed=ctx.seed, key=f"level:{level.key}")
        y = level.apply(y_fine, ev.labels)
        accuracy = {}
        for j, mid in enumerate(ev.model_ids):
            ok = (coarse[:, j] >= 0) & (y >= 0)
            accuracy[mid] = float(np.mean(coarse[ok, j] == y[ok])) if ok.any() else None
        out["levels"][level.key] = {
            "description": level.description,
            "mapping": {lab: level.mapping[lab] for lab in ev.labels},
            "classes": list(classes),
            "accuracy": accuracy,
            **block,
        }
    return out
