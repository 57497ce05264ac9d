"""The ``fairness`` section of ``metrics.json``: metrics per group for each ``--groups`` grouping.

Reads ``EvalContext.options``: ``groups`` (a list of groupings, each a list of columns; see
:func:`ferbench.metrics.groups.parse_groups`), and optionally ``group_min_size`` and ``group_n_boot``.
Absent when no grouping was asked for.
"""

from __future__ import annotations

from typing import Any

from ..evaluate import EvalContext, register_section
from ..metrics.groups import (
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
    ev = ctx.ev
    out: dict[str, Any] = {}
    for i, cols in enumerate(groupings):
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
            seed=ctx.seed + i,
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
