"""People as the yardstick: how much annotators agree, and how models compare with them on the same faces.

Input is a vote matrix (faces × expression labels) of annotator counts, e.g. FER+'s ten votes per face, with
non-expression votes (unknown, not a face) already left out. Faces with no expression vote are dropped (and
counted) before any statistic; faces with a single expression vote take part only where one vote suffices.

* human agreement: the count-table statistics of :mod:`.agreement` (Fleiss' kappa, which here allows a
  varying number of votes per face, Krippendorff's alpha, per-class kappa, shares), with bootstrap intervals;
* plurality label: the label with the most votes; a tie for first place gives none, and such faces are left
  out of the plurality statistics (``n_tied``);
* per model: accuracy against the plurality label and Cohen's kappa with it; *soft accuracy*, the mean share
  of a face's annotators who chose the model's label (the model scored like one more annotator); and
  Krippendorff's alpha of the annotators with the model added as one more rater, next to the annotators' own
  alpha. Soft accuracy is directly comparable with the annotators' percent agreement (the mean share of
  agreeing annotator pairs): both are "how often does one rater agree with another annotator".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .agreement import CountAgreement, Estimate, ci_info, cohen_kappa_estimate, count_agreement
from .bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    compress,
    percentile_interval,
    resample_weights,
    rng_for,
)

NO_VOTES = "no face has an annotator vote on the evaluated labels"


def plurality(votes: np.ndarray) -> np.ndarray:
    """Index of the label with the most votes per face; ``-1`` for a tie for first place or no votes."""
    v = np.asarray(votes)
    top = v.max(axis=1)
    unique = (v == top[:, None]).sum(axis=1) == 1
    return np.where((top > 0) & unique, v.argmax(axis=1), -1)


def soft_scores(votes: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per face, the share of its annotators who chose the model's label (NaN where no prediction or vote)."""
    v = np.asarray(votes, dtype=np.float64)
    p = np.asarray(pred)
    n = v.sum(axis=1)
    ok = (p >= 0) & (n > 0)
    out = np.full(len(v), np.nan)
    out[ok] = v[ok, p[ok]] / n[ok]
    return out


def mean_estimate(
    values: np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    key: str = "mean",
    reason: str = "no item to average over",
) -> Estimate:
    """Mean of per-item values with a percentile bootstrap interval over items."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return Estimate(None, None, None, reason)
    pat = compress(x[:, None])
    col = pat.rows[:, 0].astype(np.float64)
    value = float(pat.freq @ col / pat.n_items)
    if n_resamples <= 0:
        return Estimate(value)
    w = resample_weights(pat, n_resamples, rng_for(seed, key))
    lo, hi, nu = percentile_interval(w @ col / pat.n_items, confidence)
    return Estimate(value, float(lo), float(hi), n_undefined=int(nu))


def human_agreement(
    votes: np.ndarray,
    labels: Sequence[str],
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    key: str = "humans",
) -> dict[str, Any]:
    """Annotators' agreement from a vote matrix, plus the plurality-label counts."""
    v = np.asarray(votes, dtype=np.int64)
    voted = v.sum(axis=1) > 0
    if voted.any():
        res = count_agreement(v[voted], labels, seed=seed, n_resamples=n_resamples, key=key).to_json()
    else:
        none = Estimate(None, None, None, NO_VOTES)
        res = CountAgreement(
            0, 0, 0, none, none, none, none, none, none, {lab: none for lab in labels},
            ci_info(n_resamples, DEFAULT_CONFIDENCE, seed),
        ).to_json()  # fmt: skip
    plur = plurality(v)
    res.update(
        {
            "n_faces": int(len(v)),
            "n_without_votes": int((~voted).sum()),
            "n_tied": int(((plur < 0) & voted).sum()),
            "votes_per_face": float(v[voted].sum(axis=1).mean()) if voted.any() else None,
            "plurality_counts": {lab: int((plur == j).sum()) for j, lab in enumerate(labels)},
        }
    )
    return res


def model_vs_humans(
    votes: np.ndarray,
    pred: np.ndarray,
    labels: Sequence[str],
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    key: str = "model",
) -> dict[str, Any]:
    """One model against the annotators on the same faces (faces the model scored and people voted on)."""
    v = np.asarray(votes, dtype=np.int64)
    p = np.asarray(pred)
    k = len(labels)
    ok = (p >= 0) & (v.sum(axis=1) > 0)
    if not ok.any():
        null = Estimate(None, None, None, "no face has both a model label and an annotator vote").to_json()
        return {
            "n_faces": 0,
            "n_with_plurality": 0,
            "plurality_accuracy": null,
            "plurality_kappa": null,
            "soft_accuracy": null,
            "alpha_with_model": null,
        }
    v, p = v[ok], p[ok]
    plur = plurality(v)
    has = plur >= 0
    acc = mean_estimate(
        (p[has] == plur[has]).astype(float), seed=seed, n_resamples=n_resamples, key=f"{key}:plurality",
        reason="no face has a plurality label",
    )  # fmt: skip
    kappa = cohen_kappa_estimate(p[has], plur[has], k, seed=seed, n_resamples=n_resamples, key=f"{key}:kappa")
    soft = mean_estimate(soft_scores(v, p), seed=seed, n_resamples=n_resamples, key=f"{key}:soft")
    with_model = v.copy()
    with_model[np.arange(len(p)), p] += 1
    alpha = count_agreement(with_model, labels, seed=seed, n_resamples=n_resamples, key=f"{key}:alpha")
    return {
        "n_faces": int(ok.sum()),
        "n_with_plurality": int(has.sum()),
        "plurality_accuracy": acc.to_json(),
        "plurality_kappa": kappa.to_json(),
        "soft_accuracy": soft.to_json(),
        "alpha_with_model": alpha.krippendorff_alpha.to_json(),
    }


def humans_block(
    votes: np.ndarray,
    labels: Sequence[str],
    preds: Mapping[str, np.ndarray] | None = None,
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, Any]:
    """Human agreement and, for each model's predictions (label indices, ``-1`` = none), the comparison."""
    out: dict[str, Any] = {
        "labels": list(labels),
        "humans": human_agreement(votes, labels, seed=seed, n_resamples=n_resamples),
        "ci": ci_info(n_resamples, DEFAULT_CONFIDENCE, seed),
    }
    if preds:
        out["models"] = {
            mid: model_vs_humans(votes, p, labels, seed=seed, n_resamples=n_resamples, key=f"model:{mid}")
            for mid, p in preds.items()
        }
    return out
