"""``calibration``, ``selective`` and ``ensembles`` sections of ``metrics.json``.

Why: accuracy alone does not say whether a model knows when it is wrong. These sections measure how well
each model's (and each ensemble's) confidence tracks its correctness, what accuracy is left when it may
decline to answer, and how ensembles that can say "uncertain" compare. Definitions: ``docs/uncertainty.md``.

Temperature scaling is fitted on one split and evaluated on another (default PublicTest → PrivateTest, the
two FER2013 test splits); datasets without both splits get the section with ``status: skipped`` and the
reason. With ``--calibrate-on`` (``options["calibration"]``: faces scored beside the evaluated ones and never
counted in them) the temperature is fitted on those faces instead and evaluated on every evaluated face, so it
also runs on FER+ (valid → test). Options (``EvalContext.options``): ``calibration_fit_split``,
``calibration_eval_split``, ``calibration_bins``, ``calibration``, ``ensembles`` (a list of
:class:`~ferbench.ensembles.EnsembleSpec`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..ensembles import EnsembleOutput, EnsembleSpec, default_specs, run_ensemble
from ..evaluate import EvalContext, EvaluatedPredictions, register_section
from ..metrics.calibration import (
    DEFAULT_BINS,
    EPS,
    CalibrationError,
    apply_temperature,
    calibration_summary,
    temperature_scaling,
)
from ..metrics.classification import classification_summary
from ..metrics.selective import COMMIT_THRESHOLDS, selective_summary
from ..models.cards import ModelCard

BINNING = "top-label confidence, {0} equal-width bins over [0, 1]; bin b holds ((b)/{0}, (b+1)/{0}]"


@dataclass
class Predictor:
    """One row of the uncertainty tables: a model or an ensemble, as per-item labels and probabilities."""

    name: str
    kind: str  # "model" | "ensemble"
    pred: np.ndarray  # (n,) label index, -1 where not scored
    proba: np.ndarray  # (n, k), NaN where not scored
    agreement: np.ndarray  # (n,) share of the other models (or members) that give the same label; NaN: none
    calibrated_scores: bool
    confidence: np.ndarray  # (n,) largest probability (model) or members' mean probability of the label


_CACHE: dict[int, tuple[EvalContext, dict[str, Any]]] = {}


def labelled(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of faces with a dataset label, label indices with 0 where none).

    Faces kept for their votes alone (no label under the dataset's rule) get sets and take part in the
    people view, but never in coverage against the dataset label, nor in calibration.
    """
    v = np.asarray(y, dtype=np.float64)
    has = np.isfinite(v) & (v >= 0)
    return has, np.where(has, v, 0).astype(np.int64)


def predictors(
    ev: EvaluatedPredictions, cards: dict[str, ModelCard], specs: Sequence[EnsembleSpec]
) -> tuple[list[Predictor], dict[str, tuple[EnsembleSpec, EnsembleOutput]]]:
    """Every model and every non-abstaining ensemble of ``specs`` as a :class:`Predictor` over ``ev``'s faces.

    Shared by the evaluated faces and the calibration faces, so both are built by the same rules.
    """
    ids = ev.model_ids
    preds: list[Predictor] = []
    m = len(ids)
    for j, mid in enumerate(ids):
        if m >= 2:
            others = np.delete(ev.pred, j, axis=1)
            n_other = (others >= 0).sum(axis=1)
            same = (others == ev.pred[:, [j]]).sum(axis=1)
            agree = np.where((n_other > 0) & (ev.pred[:, j] >= 0), same / np.maximum(n_other, 1), np.nan)
        else:
            agree = np.full(len(ev.pred), np.nan)
        ok = ev.pred[:, j] >= 0
        conf = np.where(ok, np.nan_to_num(ev.proba[:, j], nan=0.0).max(axis=1), np.nan)
        preds.append(
            Predictor(mid, "model", ev.pred[:, j], ev.proba[:, j], agree, cards[mid].calibrated_scores, conf)
        )
    outputs: dict[str, tuple[EnsembleSpec, EnsembleOutput]] = {}
    for spec in specs:
        out = run_ensemble(spec, ids, ev.pred, ev.proba)
        outputs[spec.name] = (spec, out)
        if spec.min_agreement == 0 and spec.min_confidence == 0:
            # Abstaining variants share these outputs; only the non-abstaining one gets calibration rows.
            members_cal = all(cards[mid].calibrated_scores for mid in spec.members)
            preds.append(
                Predictor(
                    spec.name,
                    "ensemble",
                    out.raw_label,
                    out.proba,
                    out.agreement,
                    spec.method == "mean" and members_cal,
                    out.confidence,
                )
            )
    return preds, outputs


def _state(ctx: EvalContext) -> dict[str, Any]:
    """Predictors, ensemble outputs and split masks, computed once per context and shared by the sections.

    With calibration faces (``options["calibration"]``, from ``--calibrate-on``), ``cal_predictors`` holds the
    same predictors over those faces.
    """
    hit = _CACHE.get(id(ctx))
    if hit is not None and hit[0] is ctx:
        return hit[1]
    ev = ctx.ev
    cards = {c.id: c for c in ctx.cards}
    specs: list[EnsembleSpec] = list(ctx.options.get("ensembles") or default_specs(ev.model_ids))
    preds, outputs = predictors(ev, cards, specs)
    split = ctx.samples["split"].astype(str).to_numpy() if "split" in ctx.samples else None
    state: dict[str, Any] = {"predictors": preds, "ensembles": outputs, "split": split, "specs": specs}
    cal = ctx.options.get("calibration")
    if cal is not None:
        state["cal_predictors"] = predictors(cal["ev"], cards, specs)[0]
    _CACHE.clear()
    _CACHE[id(ctx)] = (ctx, state)
    return state


def _temperature_plan(ctx: EvalContext) -> tuple[str, str, str | None]:
    """Fit and eval split names, and why temperature scaling is skipped (None: it can run).

    With calibration faces (``--calibrate-on``) the temperature is fitted on them and evaluated on every
    evaluated face; otherwise on two splits inside the evaluated faces (default PublicTest → PrivateTest).
    """
    cal = ctx.options.get("calibration")
    if cal is not None:
        return str(cal["name"]), str(ctx.options.get("evaluated_split") or "evaluated faces"), None
    fit = str(ctx.options.get("calibration_fit_split", "PublicTest"))
    evl = str(ctx.options.get("calibration_eval_split", "PrivateTest"))
    if "split" not in ctx.samples:
        return fit, evl, "the dataset has no split column"
    present = set(ctx.samples["split"].astype(str))
    missing = [s for s in (fit, evl) if s not in present]
    if missing:
        return (
            fit,
            evl,
            (
                f"the evaluated samples have no {' or '.join(missing)} split (splits present: "
                f"{', '.join(sorted(present))}); temperature scaling needs a fit split and a disjoint eval split"
            ),
        )
    if fit == evl:
        return fit, evl, "fit and eval split are the same; temperature must be evaluated on other items"
    return fit, evl, None


def _temperatures(ctx: EvalContext) -> dict[str, Any]:
    """Per predictor: the fitted temperature result or the reason it could not be fitted."""
    st = _state(ctx)
    if "temperature" in st:
        return st["temperature"]  # type: ignore[no-any-return]
    fit, evl, skip = _temperature_plan(ctx)
    bins = int(ctx.options.get("calibration_bins", DEFAULT_BINS))
    res: dict[str, Any] = {"fit_split": fit, "eval_split": evl, "per": {}}
    if skip is not None:
        res.update(status="skipped", reason=skip)
    else:
        res["status"] = "fitted"
        split = st["split"]
        ids = ctx.ev.sample_ids
        cal = ctx.options.get("calibration")
        for i, p in enumerate(st["predictors"]):
            ok = p.pred >= 0
            if cal is not None:
                cp = st["cal_predictors"][i]
                cal_has, cal_t = labelled(cal["ev"].y_true)
                f = (cp.pred >= 0) & cal_has
                f_proba, f_y, f_ids = cp.proba[f], cal_t[f], cal["ev"].sample_ids[f]
                e = ok & labelled(ctx.ev.y_true)[0]
            else:
                f, e = ok & (split == fit), ok & (split == evl)
                f_proba, f_y, f_ids = p.proba[f], ctx.ev.y_true[f], ids[f]
            try:
                r = temperature_scaling(
                    f_proba,
                    f_y,
                    f_ids,
                    p.proba[e],
                    ctx.ev.y_true[e],
                    ids[e],
                    labels=ctx.ev.labels,
                    n_bins=bins,
                    name=p.name,
                    eval_pred=p.pred[e],
                )
                res["per"][p.name] = {"ok": True, "result": r, "eval_mask": e}
            except CalibrationError as exc:
                res["per"][p.name] = {"ok": False, "reason": str(exc)}
    st["temperature"] = res
    return res


@register_section("calibration")
def calibration_section(ctx: EvalContext) -> dict[str, Any] | None:
    st = _state(ctx)
    bins = int(ctx.options.get("calibration_bins", DEFAULT_BINS))
    temps = _temperatures(ctx)
    rows: dict[str, dict[str, Any]] = {"models": {}, "ensembles": {}}
    for p in st["predictors"]:
        ok = p.pred >= 0
        if not ok.any():
            row: dict[str, Any] = {
                "n": 0,
                "reason": "no scored items",
                **dict.fromkeys(("accuracy", "mean_confidence", "ece", "brier", "nll")),
                "reliability": [],
            }
        else:
            row = calibration_summary(p.proba[ok], ctx.ev.y_true[ok], bins, p.pred[ok])
        row["calibrated_scores"] = p.calibrated_scores
        t = temps["per"].get(p.name)
        if t is None:
            row["temperature"] = {"status": "skipped", "reason": temps.get("reason")}
        elif t["ok"]:
            row["temperature"] = {"status": "fitted", **t["result"].to_dict()}
        else:
            row["temperature"] = {"status": "refused", "reason": t["reason"]}
        rows["models" if p.kind == "model" else "ensembles"][p.name] = row
    return {
        "binning": BINNING.format(bins),
        "n_bins": bins,
        "nll_clip": EPS,
        "brier": "multi-class: mean over items of sum_k (p_k - onehot_k)^2, range 0..2",
        "temperature_protocol": {
            "fit_split": temps["fit_split"],
            "eval_split": temps["eval_split"],
            "status": temps["status"],
            "reason": temps.get("reason"),
            "logits": "log of the restricted, renormalised probabilities",
        },
        **rows,
    }


def _sel(conf: np.ndarray, correct: np.ndarray, mask: np.ndarray) -> dict[str, Any] | None:
    mask = mask & np.isfinite(conf)
    if not mask.any():
        return None
    return selective_summary(conf[mask], correct[mask])


@register_section("selective")
def selective_section(ctx: EvalContext) -> dict[str, Any] | None:
    st = _state(ctx)
    temps = _temperatures(ctx)
    y = ctx.ev.y_true
    rows: dict[str, dict[str, Any]] = {"models": {}, "ensembles": {}}
    for p in st["predictors"]:
        ok = p.pred >= 0
        correct = p.pred == y
        conf = p.confidence
        row: dict[str, Any] = {
            "confidence": _sel(conf, correct, ok),
            "agreement": _sel(p.agreement, correct, ok),
        }
        t = temps["per"].get(p.name)
        if t is not None and t["ok"]:
            e = t["eval_mask"]
            cal = np.full(len(y), np.nan)
            cal[e] = apply_temperature(p.proba[e], t["result"].temperature).max(axis=1)
            # the same vector before scaling (for a vote ensemble: the vote share, not `confidence`)
            raw = np.where(ok, np.nan_to_num(p.proba, nan=0.0).max(axis=1), np.nan)
            row["calibrated"] = {
                "split": temps["eval_split"],
                "temperature": t["result"].temperature,
                "confidence": _sel(raw, correct, e),
                "calibrated": _sel(cal, correct, e),
            }
        else:
            row["calibrated"] = None
        rows["models" if p.kind == "model" else "ensembles"][p.name] = row
    return {
        "thresholds": list(COMMIT_THRESHOLDS),
        "scores": {
            "confidence": "the largest restricted probability (model) or the mean member probability of the "
            "chosen label (ensemble)",
            "agreement": "share of the other models (model) or of the members (ensemble) giving the same label",
            "calibrated": "largest entry of the model's (ensemble's) vector after temperature scaling, next to "
            "the same before scaling, on the eval split only",
        },
        "aurc": "mean selective risk over the ranked items, tied confidences answered together; lower is better",
        **rows,
    }


def _ensemble_metrics(
    spec: EnsembleSpec, out: EnsembleOutput, ctx: EvalContext, cards: dict[str, Any]
) -> dict[str, Any]:
    labels = list(ctx.ev.labels)
    names = np.array(labels, dtype=object)
    y = ctx.ev.y_true
    answered = out.label >= 0
    n = len(y)
    if answered.any():
        summary: dict[str, Any] = classification_summary(
            names[y[answered]], names[out.label[answered]], labels=labels
        )
    else:
        summary = {"n": 0, "accuracy": None, "macro_f1": None, "confusion": [], "labels": labels}
    reasons = {str(r): int(c) for r, c in pd.Series(out.reason[~answered]).value_counts().items()}
    scored = out.raw_label >= 0
    summary.update(
        {
            **spec.to_dict(),
            "coverage": float(answered.mean()) if n else None,
            "n_abstained": int((~answered).sum()),
            "abstentions": reasons,
            "accuracy_before_abstention": float((out.raw_label[scored] == y[scored]).mean())
            if scored.any()
            else None,
            "accuracy_counting_abstentions_as_errors": float((out.label == y).mean()) if n else None,
            "mean_agreement": float(np.nanmean(out.agreement)) if scored.any() else None,
            "n_failed": int((~scored).sum()),
            "failures": {"no prediction": int((~scored).sum())} if (~scored).any() else {},
            "missing_labels": [
                lab for lab in labels if all(lab not in cards[mid].canonical_classes for mid in spec.members)
            ],
            "verified": all(cards[mid].verified for mid in spec.members),
            "calibrated_scores": spec.method == "mean"
            and all(cards[mid].calibrated_scores for mid in spec.members),
        }
    )
    return summary


@register_section("ensembles")
def ensembles_section(ctx: EvalContext) -> dict[str, Any] | None:
    """Ensemble rows, shaped like ``models[...]`` plus coverage and abstentions; absent with one model."""
    st = _state(ctx)
    if not st["ensembles"]:
        return None
    cards = {c.id: c for c in ctx.cards}
    return {name: _ensemble_metrics(spec, out, ctx, cards) for name, (spec, out) in st["ensembles"].items()}
