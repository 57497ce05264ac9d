"""Selective prediction: how accuracy changes when a model may decline to answer on its least confident items.

Why: a service that commits to a label at 5% confidence and one that declines below 90% make very different
promises. The risk–coverage curve shows every such choice at once; the commit-threshold table reads it at a
few fixed thresholds.

Definitions (also in ``docs/uncertainty.md``):

* Items are ranked by a confidence score (higher = more sure). Answering the items with confidence
  ``>= c`` gives a *coverage* (share answered) and a *selective risk* (error rate on the answered items).
  Items with equal confidence are answered together, so the curve does not depend on how ties are ordered.
* **AURC** (area under the risk–coverage curve, Geifman et al. 2018): the mean, over the n items in ranked
  order, of the selective risk when the top ``i`` items are answered, with tied items all taking the risk of
  their group's end: ``AURC = sum_g (n_g / n) * risk(after group g)``. Lower is better.
* **Oracle AURC**: the AURC of a perfect ranking (every correct item before every error) with the same
  error rate r; in the continuous limit ``r + (1 - r) ln(1 - r)``, computed exactly here. **E-AURC** =
  AURC - oracle AURC isolates the ranking quality from the accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import FerbenchError

COMMIT_THRESHOLDS: tuple[float, ...] = (0.05, 0.5, 0.7, 0.9)
CURVE_POINTS = 101


class ThresholdError(FerbenchError):
    """A confidence or agreement threshold outside [0, 1]."""


def check_threshold(value: float, what: str = "threshold") -> float:
    """Return ``value`` as float, or raise ``ThresholdError`` if it is not a number in [0, 1]."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ThresholdError(f"{what} '{value}' is not a number; give a value between 0 and 1") from None
    if not (0.0 <= v <= 1.0):
        raise ThresholdError(f"{what} {v:g} is outside [0, 1]; give a probability such as 0.5")
    return v


def _prep(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if c.shape != ok.shape or c.ndim != 1:
        raise ValueError(f"confidence and correct must be 1-D of equal length, got {c.shape}, {ok.shape}")
    if len(c) == 0:
        raise ValueError("no items to score")
    if not np.all(np.isfinite(c)):
        raise ValueError("confidence holds NaN or infinite values")
    return c, ok


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Risk–coverage steps: for each distinct confidence (descending), coverage and selective risk.

    Returns ``(thresholds, coverage, risk)``, one entry per distinct confidence value.
    """
    c, ok = _prep(confidence, correct)
    order = np.argsort(-c, kind="stable")
    cs, errs = c[order], (~ok[order]).astype(np.float64)
    cum_err = np.cumsum(errs)
    # Last index of each tie group in the sorted order.
    ends = np.flatnonzero(np.r_[cs[1:] != cs[:-1], True])
    answered = ends + 1
    return cs[ends], answered / len(c), cum_err[ends] / answered


def aurc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Area under the risk–coverage curve with tie groups (see module docstring)."""
    c, _ = _prep(confidence, correct)
    _, cov, risk = risk_coverage(confidence, correct)
    group_sizes = np.diff(np.r_[0.0, cov]) * len(c)
    return float(np.sum(group_sizes * risk) / len(c))


def oracle_aurc(correct: np.ndarray) -> float:
    """AURC of the perfect ranking (all correct items first) for this set of outcomes."""
    ok = np.asarray(correct, dtype=bool)
    n, n_ok = len(ok), int(ok.sum())
    i = np.arange(1, n + 1)
    risk = np.maximum(i - n_ok, 0) / i
    return float(risk.mean())


def commit_table(
    confidence: np.ndarray, correct: np.ndarray, thresholds: Sequence[float] = COMMIT_THRESHOLDS
) -> list[dict[str, Any]]:
    """At each threshold t: the share of items with confidence >= t (they get a label) and accuracy on them."""
    c, ok = _prep(confidence, correct)
    rows = []
    for t in thresholds:
        t = check_threshold(t)
        sel = c >= t
        n = int(sel.sum())
        rows.append(
            {
                "threshold": t,
                "n_committed": n,
                "coverage": n / len(c),
                "accuracy": float(ok[sel].mean()) if n else None,
            }
        )
    return rows


def _sampled_curve(cov: np.ndarray, risk: np.ndarray, points: int) -> dict[str, list[float]]:
    """The step curve thinned to at most ``points`` steps (for plots and JSON), always keeping the ends."""
    if len(cov) <= points:
        keep = np.arange(len(cov))
    else:
        keep = np.unique(np.r_[np.linspace(0, len(cov) - 1, points).round().astype(int), len(cov) - 1])
    return {"coverage": [float(x) for x in cov[keep]], "risk": [float(x) for x in risk[keep]]}


def selective_summary(
    confidence: np.ndarray,
    correct: np.ndarray,
    thresholds: Sequence[float] = COMMIT_THRESHOLDS,
    curve_points: int = CURVE_POINTS,
) -> dict[str, Any]:
    """AURC, oracle AURC, E-AURC, the thinned risk–coverage curve and the commit-threshold table."""
    c, ok = _prep(confidence, correct)
    _, cov, risk = risk_coverage(c, ok)
    a, o = aurc(c, ok), oracle_aurc(ok)
    return {
        "n": int(len(c)),
        "risk_at_full_coverage": float(1.0 - ok.mean()),
        "aurc": a,
        "oracle_aurc": o,
        "e_aurc": a - o,
        "curve": _sampled_curve(cov, risk, curve_points),
        "commit": commit_table(c, ok, thresholds),
    }
