"""The ``robustness`` section of ``metrics.json``: what each perturbation and severity does to the models.

Reads ``EvalContext.options["perturb"]``: a list of variant descriptions written by
:func:`ferbench.perturb.run_perturbations` (``variant``, ``perturbation``, ``severity``, ``level``,
``unit``). Absent when no perturbation was asked for.

Each perturbed prediction is compared with the same model's clean prediction on the same face (paired, over
the samples scored in both), per model and for the ensemble that averages the models' restricted
probabilities:

* ``accuracy_drop``: clean accuracy minus perturbed accuracy, with a paired bootstrap interval;
* ``label_change``: the share of faces whose predicted label differs from the clean one (needs no ground
  truth, so it also shows instability where the dataset label is debatable);
* ``confidence_change`` and ``ece_change``: mean top probability, and expected calibration error (the
  calibration section's ECE, :func:`ferbench.metrics.calibration.expected_calibration_error`: 15 equal-width
  bins of top probability, right-closed), perturbed minus clean;
* ``agreement``: Fleiss' kappa among the models, clean and perturbed, and its drop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluate import EvalContext, EvaluatedPredictions, register_section, restrict
from ..metrics.agreement import fleiss_kappa, rating_counts
from ..metrics.bootstrap import interval, pattern_weights
from ..metrics.calibration import DEFAULT_BINS, expected_calibration_error
from ..perturb.registry import PERTURBATIONS

N_BINS = DEFAULT_BINS  # the calibration section's ECE and bins: one definition (metrics.calibration)
N_BOOT = 1000
__all__ = ["expected_calibration_error", "robustness_metrics", "robustness_section"]


def _paired(
    y: np.ndarray,
    pc: np.ndarray,
    pp: np.ndarray,
    probc: np.ndarray,
    probp: np.ndarray,
    seed: int,
    key: str,
) -> dict[str, Any]:
    """Clean vs perturbed statistics on the items both scored (``pc``/``pp`` ≥ 0).

    The accuracy drop's interval is a paired bootstrap over those items from the stream ``(seed, key)``; the
    items enter only through their (clean correct, perturbed correct) pair, so resampling is four weights.
    """
    both = (pc >= 0) & (pp >= 0)
    n = int(both.sum())
    if n == 0:
        return {"n": 0, "reason": "no sample was scored both clean and perturbed"}
    y, pc, pp, probc, probp = y[both], pc[both], pp[both], probc[both], probp[both]
    cc, cp = pc == y, pp == y
    pat, w = pattern_weights(np.stack([cc, cp], axis=1).astype(np.int64), N_BOOT, seed, key)
    drop_b = (w @ (pat.rows[:, 0] - pat.rows[:, 1]).astype(np.float64)) / n
    conf_c, conf_p = probc.max(axis=1), probp.max(axis=1)
    ece_c = expected_calibration_error(conf_c, cc, N_BINS)
    ece_p = expected_calibration_error(conf_p, cp, N_BINS)
    return {
        "n": n,
        "accuracy_clean": float(cc.mean()),
        "accuracy": float(cp.mean()),
        "accuracy_drop": {"value": float(cc.mean() - cp.mean()), **interval(drop_b)},
        "label_change": float(np.mean(pc != pp)),
        "mean_confidence_clean": float(conf_c.mean()),
        "mean_confidence": float(conf_p.mean()),
        "confidence_change": float(conf_p.mean() - conf_c.mean()),
        "ece_clean": ece_c,
        "ece": ece_p,
        "ece_change": None if ece_c is None or ece_p is None else ece_p - ece_c,
    }


def _ensemble(ev: EvaluatedPredictions) -> tuple[np.ndarray, np.ndarray]:
    """Mean restricted probability over the models; -1 where any model failed."""
    ok = np.all(ev.pred >= 0, axis=1)
    m = ev.proba.shape[1]
    prob = np.zeros((ev.proba.shape[0], ev.proba.shape[2]))
    for j in range(
        m
    ):  # one model at a time: never a second copy of the whole (items × models × labels) array
        prob += np.nan_to_num(ev.proba[:, j])
    prob /= m
    pred = np.where(ok, prob.argmax(axis=1), -1)
    return pred, prob


def _kappa(ev_c: EvaluatedPredictions, ev_p: EvaluatedPredictions) -> dict[str, Any]:
    if len(ev_c.model_ids) < 2:
        return {"n_items": 0, "reason": "agreement needs at least two models"}
    both = np.all(ev_c.pred >= 0, axis=1) & np.all(ev_p.pred >= 0, axis=1)
    if not both.any():
        return {"n_items": 0, "reason": "no item scored by every model clean and perturbed"}
    k = len(ev_c.labels)
    kc = fleiss_kappa(rating_counts(ev_c.pred[both], k))
    kp = fleiss_kappa(rating_counts(ev_p.pred[both], k))
    return {
        "n_items": int(both.sum()),
        "fleiss_kappa_clean": kc,
        "fleiss_kappa": kp,
        "kappa_drop": None if kc is None or kp is None else kc - kp,
    }


def robustness_metrics(
    clean: EvaluatedPredictions, perturbed: EvaluatedPredictions, seed: int = 0, key: str = "perturbed"
) -> dict[str, Any]:
    """Per model, ensemble and agreement: clean vs one perturbed variant of the same samples.

    Each model's interval has its own stream ``(seed, robustness:key:model)``, so it does not move when a
    model or a perturbation is added to the run.
    """
    y = clean.y_true
    models = {
        mid: _paired(
            y,
            clean.pred[:, j],
            perturbed.pred[:, j],
            clean.proba[:, j],
            perturbed.proba[:, j],
            seed,
            f"robustness:{key}:{mid}",
        )
        for j, mid in enumerate(clean.model_ids)
    }
    for j, mid in enumerate(clean.model_ids):
        models[mid]["n_failed"] = int(np.sum(perturbed.pred[:, j] < 0))
    out: dict[str, Any] = {"models": models, "agreement": _kappa(clean, perturbed)}
    if len(clean.model_ids) >= 2:
        ec, pc = _ensemble(clean)
        ep, pp = _ensemble(perturbed)
        out["ensemble"] = _paired(y, ec, ep, pc, pp, seed, f"robustness:{key}:ensemble")
    return out


@register_section("robustness")
def robustness_section(ctx: EvalContext) -> dict[str, Any] | None:
    described = ctx.options.get("perturb") or []
    if not described:
        return None
    ev = ctx.ev
    perts: dict[str, Any] = {}
    for d in described:
        ev_p = restrict(ctx.predictions, ctx.samples, ev.model_ids, ev.labels, variant=d["variant"])
        p = PERTURBATIONS[d["perturbation"]]
        entry = perts.setdefault(
            d["perturbation"], {"description": p.description, "unit": p.unit, "severities": []}
        )
        entry["severities"].append(
            {
                "severity": int(d["severity"]),
                "level": float(d["level"]),
                "variant": d["variant"],
                **robustness_metrics(ev, ev_p, seed=ctx.seed, key=d["variant"]),
            }
        )
    worst: dict[str, Any] = {}
    for mid in ev.model_ids:
        drops = [
            (s["models"][mid]["accuracy_drop"]["value"], name, s["severity"])
            for name, e in perts.items()
            for s in e["severities"]
            if s["models"][mid].get("n")
        ]
        if drops:
            v, name, sev = max(drops)
            worst[mid] = {"perturbation": name, "severity": sev, "accuracy_drop": v}
    return {
        "clean_variant": ctx.options.get("variant", "clean"),
        "seed": ctx.seed,
        "perturbations": perts,
        "worst": worst,
    }
