"""Calibration of probability outputs: ECE, reliability diagrams, Brier score, NLL and temperature scaling.

Why: a model that says "90% happy" should be right about 90% of the time when it says so. These functions
measure that on the *restricted, renormalised* probabilities of :class:`ferbench.evaluate.EvaluatedPredictions`
(one row per item, one column per evaluated label) and are pure functions of arrays.

Definitions (also in ``docs/uncertainty.md``):

* **Top-label ECE** with ``n_bins`` *equal-width* bins over [0, 1]: an item's confidence is its largest
  probability; bin ``b`` holds confidences in ``(b/B, (b+1)/B]`` (the first bin also holds exactly 0).
  ECE = sum over bins of ``n_b / n * |accuracy_b - mean_confidence_b|``.
* **Brier score** (multi-class): mean over items of ``sum_k (p_k - 1[y = k])^2`` (range 0..2). It equals the
  sum over classes of the one-vs-rest binary Brier scores.
* **NLL**: mean of ``-log(max(p_y, eps))`` with ``eps = 1e-12``; the clip keeps a confidently wrong zero
  probability finite (it then contributes ``-log(1e-12) = 27.6``).
* **Temperature scaling** (Guo et al., 2017): logits are taken as ``log(p)`` (the log of the restricted
  probabilities, which equal the logits up to a per-item constant for a softmax model; an exact zero stays
  zero at every temperature), divided by
  one scalar ``T`` and softmaxed again. ``T`` minimises the NLL on a *fit* split and is evaluated on a
  disjoint *eval* split; overlapping item sets are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from ..errors import FerbenchError

EPS = 1e-12
DEFAULT_BINS = 15
MIN_FIT_ITEMS = 50
T_BOUNDS = (0.05, 20.0)


class CalibrationError(FerbenchError):
    """Calibration cannot be fitted or evaluated as asked (overlapping splits, too few items, missing classes)."""


def _check(proba: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(proba, dtype=np.float64)
    t = np.asarray(y, dtype=np.int64)
    if p.ndim != 2 or t.ndim != 1 or len(p) != len(t):
        raise ValueError(f"expected proba (n, k) and y (n,), got {p.shape} and {t.shape}")
    if len(t) == 0:
        raise ValueError("no items to score")
    if t.min() < 0 or t.max() >= p.shape[1]:
        raise ValueError("y holds class indices outside 0..k-1")
    if not np.all(np.isfinite(p)):
        raise ValueError("proba holds NaN or infinite values; drop failed items first")
    return p, t


def reliability_bins(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_BINS
) -> list[dict[str, Any]]:
    """Equal-width bins over [0, 1]: per bin its edges, item count, mean confidence and accuracy.

    Empty bins are kept (``n`` 0, means None) so every diagram has the same x-axis. ``correct`` may also be
    a share in [0, 1] per item (e.g. the share of annotators who chose the model's label): ``accuracy`` is
    then that share's mean in the bin.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    # Bin b holds (b/B, (b+1)/B]; confidence 0 goes to bin 0.
    idx = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = idx == b
        n = int(sel.sum())
        out.append(
            {
                "lo": b / n_bins,
                "hi": (b + 1) / n_bins,
                "n": n,
                "confidence": float(conf[sel].mean()) if n else None,
                "accuracy": float(ok[sel].mean()) if n else None,
            }
        )
    return out


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_BINS
) -> float:
    """Top-label ECE with equal-width bins (see module docstring)."""
    conf = np.asarray(confidence, dtype=np.float64)
    if len(conf) == 0:
        raise ValueError("no items to score")
    total = 0.0
    for b in reliability_bins(conf, correct, n_bins):
        if b["n"]:
            total += b["n"] / len(conf) * abs(b["accuracy"] - b["confidence"])
    return float(total)


def brier_score(proba: np.ndarray, y: np.ndarray) -> float:
    """Multi-class Brier score: mean squared distance between the probability vector and the one-hot label."""
    p, t = _check(proba, y)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(t)), t] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def negative_log_likelihood(proba: np.ndarray, y: np.ndarray, eps: float = EPS) -> float:
    """Mean ``-log p_y`` with ``p_y`` clipped below at ``eps`` (default 1e-12)."""
    p, t = _check(proba, y)
    return float(np.mean(-np.log(np.maximum(p[np.arange(len(t)), t], eps))))


def calibration_summary(
    proba: np.ndarray, y: np.ndarray, n_bins: int = DEFAULT_BINS, pred: np.ndarray | None = None
) -> dict[str, Any]:
    """ECE, reliability bins, Brier, NLL, mean confidence and accuracy of one set of predictions.

    ``pred`` gives the labels when they are not the first arg-max (a vote ensemble breaks ties its own way;
    the tied labels share the top probability, so the confidence is the same either way).
    """
    p, t = _check(proba, y)
    conf = p.max(axis=1)
    label = p.argmax(axis=1) if pred is None else np.asarray(pred, dtype=np.int64)
    correct = label == t
    return {
        "n": int(len(t)),
        "accuracy": float(correct.mean()),
        "mean_confidence": float(conf.mean()),
        "ece": expected_calibration_error(conf, correct, n_bins),
        "brier": brier_score(p, t),
        "nll": negative_log_likelihood(p, t),
        "reliability": reliability_bins(conf, correct, n_bins),
    }


def to_logits(proba: np.ndarray) -> np.ndarray:
    """Log-probabilities as logits: softmax(log p) == p for rows that sum to one.

    Exact zeros (a class the model lacks, see the label-set rule) become ``-inf`` so that no temperature
    can move probability onto a class the model never scores.
    """
    p = np.asarray(proba, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(p)


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of ``log(p) / T``: T > 1 softens, T < 1 sharpens; the arg-max never changes."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = to_logits(proba) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The temperature in ``T_BOUNDS`` that minimises the (clipped) NLL of ``apply_temperature(proba, T)``.

    NLL is convex in ``1/T`` for fixed logits, so a bounded 1-D search on ``log T`` finds the optimum.
    """
    p, t = _check(proba, y)

    def nll(log_t: float) -> float:
        return negative_log_likelihood(apply_temperature(p, float(np.exp(log_t))), t)

    res = minimize_scalar(
        nll, bounds=(np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1])), method="bounded", options={"xatol": 1e-6}
    )
    return float(np.exp(res.x))


@dataclass(frozen=True)
class TemperatureResult:
    """A temperature fitted on one item set and its effect measured on another."""

    temperature: float
    n_fit: int
    n_eval: int
    before: dict[str, Any]
    after: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            # True when the optimum sits at a search bound (e.g. vote shares, which no finite T fits)
            "at_bound": bool(
                np.isclose(self.temperature, T_BOUNDS[0], rtol=1e-3)
                or np.isclose(self.temperature, T_BOUNDS[1], rtol=1e-3)
            ),
            "n_fit": self.n_fit,
            "n_eval": self.n_eval,
            "before": self.before,
            "after": self.after,
        }


def temperature_scaling(
    fit_proba: np.ndarray,
    fit_y: np.ndarray,
    fit_ids: Sequence[Any],
    eval_proba: np.ndarray,
    eval_y: np.ndarray,
    eval_ids: Sequence[Any],
    *,
    labels: Sequence[str],
    n_bins: int = DEFAULT_BINS,
    min_items: int = MIN_FIT_ITEMS,
    name: str = "",
    eval_pred: np.ndarray | None = None,
) -> TemperatureResult:
    """Fit ``T`` on the fit items, report calibration before/after on the eval items.

    Refuses (``CalibrationError``) when the two item sets share an id, when the fit set has fewer than
    ``min_items`` items, or when a label in ``labels`` never occurs in the fit set (a temperature fitted
    without a class cannot be trusted on it).
    """
    what = f"{name}: " if name else ""
    overlap = set(map(str, fit_ids)) & set(map(str, eval_ids))
    if overlap:
        example = sorted(overlap)[0]
        raise CalibrationError(
            f"{what}temperature fit and evaluation share {len(overlap)} item(s) (e.g. '{example}'); "
            "use disjoint splits such as PublicTest (fit) and PrivateTest (evaluate)"
        )
    fy = np.asarray(fit_y, dtype=np.int64)
    if len(fy) < min_items:
        raise CalibrationError(
            f"{what}temperature fit split has {len(fy)} items, fewer than the {min_items} needed; "
            "use a larger split or --limit"
        )
    missing = [lab for i, lab in enumerate(labels) if not np.any(fy == i)]
    if missing:
        raise CalibrationError(
            f"{what}temperature fit split has no item labelled {', '.join(missing)}; "
            "use a larger or stratified fit split"
        )
    if len(eval_y) == 0:
        raise CalibrationError(f"{what}temperature evaluation split is empty")
    temp = fit_temperature(fit_proba, fy)
    return TemperatureResult(
        temperature=temp,
        n_fit=int(len(fy)),
        n_eval=int(len(eval_y)),
        before=calibration_summary(eval_proba, eval_y, n_bins, eval_pred),
        after=calibration_summary(apply_temperature(eval_proba, temp), eval_y, n_bins, eval_pred),
    )
