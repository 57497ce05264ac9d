"""Ensembles of FER models that may answer "uncertain" instead of a label.

Why: the models disagree (the motivating study found Fleiss' kappa about 0.2 across nine of them), so
combining them and declining to label when they disagree is one honest way to use them.

Rules (also in ``docs/uncertainty.md``):

* ``vote``: each member that scored the item casts one vote for its arg-max label. The ensemble label is
  the label with most votes; ties go to the tied label with the largest summed probability (then the
  lowest canonical index). The ensemble's probability vector is the vote share per label.
* ``mean``: the ensemble's probability vector is the mean of the members' restricted probability vectors;
  its label is the arg-max.
* For both: **agreement** = share of scoring members whose own label equals the ensemble label;
  **confidence** = the members' mean probability for the ensemble label.
* Abstention: the ensemble answers "uncertain" with reason ``low agreement`` when agreement is below
  ``min_agreement``, else ``low confidence`` when confidence is below ``min_confidence``; ``no prediction``
  when no member scored the item. Thresholds must lie in [0, 1]; an ensemble needs at least two members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .errors import FerbenchError
from .metrics.selective import check_threshold

Method = Literal["vote", "mean"]
METHODS: tuple[str, ...] = ("vote", "mean")

LOW_AGREEMENT = "low agreement"
LOW_CONFIDENCE = "low confidence"
NO_PREDICTION = "no prediction"
NO_FACE = "no face found"


class EnsembleError(FerbenchError):
    """An ensemble cannot be built as asked (fewer than two members, unknown member or method)."""


@dataclass(frozen=True)
class EnsembleSpec:
    """Which models, how they are combined, and when the ensemble declines to answer."""

    name: str
    members: tuple[str, ...]
    method: Method = "vote"
    min_agreement: float = 0.0
    min_confidence: float = 0.0

    def __post_init__(self) -> None:
        if len(set(self.members)) < 2:
            raise EnsembleError(
                f"ensemble '{self.name}' has {len(set(self.members))} distinct member(s); an ensemble needs "
                "at least two models (evaluate a single model directly instead)"
            )
        if self.method not in METHODS:
            raise EnsembleError(f"ensemble '{self.name}': unknown method '{self.method}'; use vote or mean")
        check_threshold(self.min_agreement, f"ensemble '{self.name}' min_agreement")
        check_threshold(self.min_confidence, f"ensemble '{self.name}' min_confidence")

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": list(self.members),
            "method": self.method,
            "min_agreement": self.min_agreement,
            "min_confidence": self.min_confidence,
        }


@dataclass
class EnsembleOutput:
    """Per item: the label before abstention, the committed label (-1: uncertain) and the reason."""

    raw_label: np.ndarray  # (n,) label index, -1 where no member scored
    label: np.ndarray  # (n,) label index, -1 where the ensemble abstains
    proba: np.ndarray  # (n, k) vote shares or mean probabilities; NaN where no member scored
    agreement: np.ndarray  # (n,)
    confidence: np.ndarray  # (n,)
    reason: np.ndarray  # (n,) "" where answered
    n_members: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def combine(
    pred: np.ndarray,
    proba: np.ndarray,
    method: Method = "vote",
    min_agreement: float = 0.0,
    min_confidence: float = 0.0,
) -> EnsembleOutput:
    """Combine members' labels ``pred`` (n, m; -1 = failed) and probabilities ``proba`` (n, m, k)."""
    pred = np.asarray(pred, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    n, m = pred.shape
    if m < 2:
        raise EnsembleError(f"an ensemble needs at least two models, got {m}")
    if method not in METHODS:
        raise EnsembleError(f"unknown ensemble method '{method}'; use vote or mean")
    min_agreement = check_threshold(min_agreement, "min_agreement")
    min_confidence = check_threshold(min_confidence, "min_confidence")
    k = proba.shape[2]
    ok = pred >= 0
    n_ok = ok.sum(axis=1)
    p0 = np.where(ok[:, :, None], np.nan_to_num(proba, nan=0.0), 0.0)
    prob_sum = p0.sum(axis=1)  # (n, k)
    votes = np.zeros((n, k))
    for j in range(m):
        rows = np.flatnonzero(ok[:, j])
        np.add.at(votes, (rows, pred[rows, j]), 1.0)
    has = n_ok > 0
    out_p = np.full((n, k), np.nan)
    if method == "vote":
        # Lexicographic: most votes, then largest summed probability, then lowest index (argmax's first).
        key = votes * (m + 1.0) + prob_sum / (prob_sum.sum(axis=1, keepdims=True) + 1e-300)
        raw = np.where(has, key.argmax(axis=1), -1)
        out_p[has] = votes[has] / n_ok[has, None]
    else:
        out_p[has] = prob_sum[has] / n_ok[has, None]
        raw = np.where(has, np.nan_to_num(out_p, nan=-1.0).argmax(axis=1), -1)
    rows = np.arange(n)
    safe = np.maximum(raw, 0)
    agreement = np.where(has, (pred == safe[:, None]).sum(axis=1) / np.maximum(n_ok, 1), np.nan)
    confidence = np.where(has, prob_sum[rows, safe] / np.maximum(n_ok, 1), np.nan)
    reason = np.full(n, "", dtype=object)
    reason[~has] = NO_PREDICTION
    low_a = has & (agreement < min_agreement)
    low_c = has & ~low_a & (confidence < min_confidence)
    reason[low_a] = LOW_AGREEMENT
    reason[low_c] = LOW_CONFIDENCE
    label = np.where(reason == "", raw, -1)
    return EnsembleOutput(raw, label, out_p, agreement, confidence, reason, n_ok)


def run_ensemble(
    spec: EnsembleSpec, model_ids: Sequence[str], pred: np.ndarray, proba: np.ndarray
) -> EnsembleOutput:
    """Select the spec's members from evaluated predictions (columns named by ``model_ids``) and combine."""
    ids = list(model_ids)
    unknown = [mid for mid in spec.members if mid not in ids]
    if unknown:
        raise EnsembleError(
            f"ensemble '{spec.name}': member(s) {', '.join(unknown)} not among the run's models "
            f"({', '.join(ids)})"
        )
    cols = [ids.index(mid) for mid in dict.fromkeys(spec.members)]
    return combine(pred[:, cols], proba[:, cols], spec.method, spec.min_agreement, spec.min_confidence)


def default_specs(model_ids: Sequence[str]) -> list[EnsembleSpec]:
    """The ensembles a run with two or more models reports: all models, by vote and by mean probability,
    each without abstention and with it (vote: abstain when under half the members agree; mean: abstain when
    the mean probability of the chosen label is under 0.5)."""
    ids = tuple(model_ids)
    if len(ids) < 2:
        return []
    return [
        EnsembleSpec("vote-all", ids, "vote"),
        EnsembleSpec("mean-all", ids, "mean"),
        EnsembleSpec("vote-all-abstain", ids, "vote", min_agreement=0.5),
        EnsembleSpec("mean-all-abstain", ids, "mean", min_confidence=0.5),
    ]
