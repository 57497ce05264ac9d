"""The ``fairness`` section of ``metrics.json``: metrics per group for each ``--groups`` grouping.

Reads ``EvalContext.options``: ``groups`` (a list of groupings, each a list of columns; see
:func:`ferbench.metrics.groups.parse_groups`), and optionally ``group_min_size``, ``group_n_boot`` and
``abstain_below`` (the commit threshold of the abstention rate, default 0.5).
Absent when no grouping was asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluate import EvalContext, register_section
from ..metrics.groups import (
    DEFAULT_ABSTAIN_BELOW,
    DEFAULT_MIN_SIZE,
    DEFAULT_N_BOOT,
    check_group_columns,
    group_keys,
    group_metrics,
    parse_groups,
)


@register_section("fairness")
def fairness_section(ctx: EvalContext) -> dict[str, Any] | None:
    spec = ctx.options.get("groups")
    groupings = parse_groups(spec) if isinstance(spec, str) else [list(g) for g in spec or []]
    if not groupings:
        return None
    check_group_columns(ctx.samples, groupings)
    min_size = int(ctx.options.get("group_min_size") or DEFAULT_MIN_SIZE)
    n_boot = int(ctx.options.get("group_n_boot") or DEFAULT_N_BOOT)
    abstain_below = float(ctx.options.get("abstain_below") or DEFAULT_ABSTAIN_BELOW)
    ev = ctx.ev
    # top restricted probability per (sample, model); failed cells are never read (only scored rows are)
    confidence = np.nan_to_num(ev.proba, nan=0.0).max(axis=2)
    out: dict[str, Any] = {}
    for cols in groupings:
        name = "+".join(cols)
        keys = group_keys(ctx.samples.reset_index(drop=True), cols)
        res = group_metrics(
            ev.y_true,
            ev.pred,
            keys,
            ev.model_ids,
            len(ev.labels),
            min_size=min_size,
            n_boot=n_boot,
            seed=ctx.seed,
            confidence=confidence,
            abstain_below=abstain_below,
            key=f"fairness:{name}",
        )
        estimated = any(c.startswith("est_") for c in cols)
        out[name] = {"columns": cols, "estimated": estimated, **res}
    estimator = ctx.options.get("estimator")
    return {
        **({"estimator": estimator} if estimator else {}),
        "groupings": out,
        "note": "Groups smaller than min_size are shown but flagged and left out of the gaps. Intervals are "
        "percentile bootstrap intervals, resampling samples within each group.",
    }
