"""``affect`` section: expected valence/arousal per model, their agreement, and agreement with dataset ratings.

Why: categorical disagreement overstates how far apart models are when they pick neighbouring labels (fear
vs surprise); on the valence/arousal plane that shows as near agreement. Coordinates and their source are in
:mod:`ferbench.metrics.affect`; they place *expression labels*, not felt states.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluate import EvalContext
from ..metrics.affect import VA_COORDINATES, VA_SOURCE, expected_va, icc, lin_ccc
from ..sections import section

DIMS = ("valence", "arousal")


def _vs_dataset(va: np.ndarray, ok: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d, dim in enumerate(DIMS):
        t = truth[:, d]
        sel = ok & np.isfinite(t)
        if sel.sum() < 2:
            out[dim] = {"n": int(sel.sum()), "ccc": None, "pearson": None, "rmse": None}
            continue
        x, y = va[sel, d], t[sel]
        r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else None
        out[dim] = {
            "n": int(sel.sum()),
            "ccc": lin_ccc(x, y),
            "pearson": r,
            "rmse": float(np.sqrt(np.mean((x - y) ** 2))),
        }
    return out


def _native_note(ctx: EvalContext) -> str:
    native = [c.id for c in ctx.cards if {"valence", "arousal"} <= set(getattr(c, "extra_outputs", {}) or {})]
    if not native:
        return "no model in this run reports its own valence/arousal; all values come from label coordinates"
    return (
        f"{', '.join(native)} also output their own valence/arousal, which the prediction store does not keep "
        "yet; the values here come from label coordinates for every model"
    )


@section(
    "affect",
    title="Valence & arousal",
    order=50,
    template="affect.html.j2",
    figures="ferbench.report.figures_uncertainty:uncertainty_figures",
)
def affect_section(ctx: EvalContext) -> dict[str, Any] | None:
    ev = ctx.ev
    labels = list(ev.labels)
    has_truth = all(c in ctx.samples.columns for c in DIMS)
    truth = ctx.samples[list(DIMS)].to_numpy(dtype=np.float64) if has_truth else None
    n, m = ev.pred.shape
    va = np.full((n, m, 2), np.nan)
    models: dict[str, Any] = {}
    for j, mid in enumerate(ev.model_ids):
        ok = ev.pred[:, j] >= 0
        if ok.any():
            va[ok, j] = expected_va(ev.proba[ok, j], labels)
        row: dict[str, Any] = {
            "n": int(ok.sum()),
            "mean_valence": float(va[ok, j, 0].mean()) if ok.any() else None,
            "mean_arousal": float(va[ok, j, 1].mean()) if ok.any() else None,
            "sd_valence": float(va[ok, j, 0].std()) if ok.any() else None,
            "sd_arousal": float(va[ok, j, 1].std()) if ok.any() else None,
        }
        if truth is not None:
            row["vs_dataset"] = _vs_dataset(va[:, j], ok, truth)
        models[mid] = row
    both = np.all(ev.pred >= 0, axis=1)
    agreement: dict[str, Any] = {"n_items": int(both.sum())}
    if m < 2:
        agreement["reason"] = "agreement needs at least two models"
    elif both.sum() < 2:
        agreement["reason"] = "fewer than two items were scored by every model"
    else:
        for d, dim in enumerate(DIMS):
            table = va[both, :, d]
            agreement[dim] = {
                **icc(table),
                "lin_ccc": {
                    a: {b: lin_ccc(table[:, i], table[:, k]) for k, b in enumerate(ev.model_ids)}
                    for i, a in enumerate(ev.model_ids)
                },
            }
    return {
        "coordinates": {lab: list(VA_COORDINATES[lab]) for lab in labels},
        "source": VA_SOURCE,
        "expected": "probability-weighted mean of the label coordinates, over the restricted label set",
        "models": models,
        "agreement": agreement,
        "dataset_ratings": "valence and arousal columns compared" if truth is not None else None,
        "native": _native_note(ctx),
    }
