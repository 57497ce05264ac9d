"""People and models on exactly the same faces: the comparisons that put models next to human annotators.

Inputs are arrays, one row per face: annotator vote counts over the evaluated labels, each model's label index
(``-1``: none) and restricted probabilities. Which faces enter each statistic is decided by the caller and
stated in its output (``face_set``, ``n_faces``); definitions are in ``docs/humans.md``.

* :func:`same_faces_kappa`: Fleiss' kappa of the annotators (their vote counts) and of the models (their labels
  as counts) on the same faces, over the same labels, overall and per label, at the fine level and at coarser
  levels (:mod:`.levels`), with one *paired* bootstrap over faces, so the difference has an interval too.
* :func:`leave_one_out_plurality`: the human-level score. Each annotator's vote against the plurality of the
  *other* votes on the face, ties split evenly (a vote for one of ``t`` tied top labels scores ``1/t``),
  computed exactly from the counts and averaged over votes. :func:`plurality_hits` scores a model the same way
  against the plurality of all the votes.
* :func:`spearman_estimate`: Spearman's rank correlation with a bootstrap interval (exact midranks of every
  resample, computed from the resample's counts of each distinct pair).
* :func:`agreement_cells`: the 2×2 of "people agree / split" × "models agree / split".

Intervals are percentile bootstrap intervals over faces from :mod:`.bootstrap` (keyed generators).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .agreement import Estimate, _features, _stats, ci_info, rating_counts
from .bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    compress,
    percentile_interval,
    resample_weights,
    rng_for,
)
from .levels import LEVELS

# Levels reported next to the fine labels in the headline (the primary polarity rule and the coarsest).
HEADLINE_LEVELS = ("polarity", "emotional_vs_neutral")


def _estimate(point: float, boot: np.ndarray | None, reason: str, confidence: float) -> Estimate:
    if point is None or not np.isfinite(point):
        return Estimate(None, None, None, reason)
    if boot is None:
        return Estimate(float(point))
    lo, hi, _ = percentile_interval(boot, confidence)
    return Estimate(
        float(point),
        float(lo) if np.isfinite(lo) else None,
        float(hi) if np.isfinite(hi) else None,
    )


def paired_statistics(
    table: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray], Mapping[str, np.ndarray]],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    key: str = "paired",
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Point values and bootstrap replicates of statistics that share one resampling of the faces.

    ``table`` holds one row of per-face features; ``statistic(rows, weights)`` gets the distinct rows and a
    ``(B, U)`` (or ``(U,)``) weight array and returns named arrays over the leading axis. Because every
    statistic sees the same resamples, differences between them get honest (paired) intervals.
    """
    pat = compress(np.asarray(table))
    point = {k: np.asarray(v) for k, v in statistic(pat.rows, pat.freq.astype(np.float64)).items()}
    if n_resamples <= 0:
        return point, None
    w = resample_weights(pat, n_resamples, rng_for(seed, key)).astype(np.float64)
    return point, {k: np.asarray(v) for k, v in statistic(pat.rows, w).items()}


# ------------------------------------------------------------------------------------- the two kappas


def _level_maps(labels: Sequence[str]) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Fine → coarse count maps: level key → (classes, (k × c) 0/1 matrix); ``fine`` is the identity."""
    out = {"fine": (tuple(labels), np.eye(len(labels)))}
    for lv in LEVELS:
        if lv.key in HEADLINE_LEVELS:
            classes = lv.classes(labels)
            m = np.zeros((len(labels), len(classes)))
            m[np.arange(len(labels)), lv.index_map(labels)] = 1.0
            out[lv.key] = (classes, m)
    return out


def same_faces_kappa(
    human_counts: np.ndarray,
    model_labels: np.ndarray,
    labels: Sequence[str],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    key: str = "people:kappa",
) -> dict[str, Any]:
    """Annotators' and models' Fleiss' kappa on the same faces, overall and per label, per level.

    ``human_counts`` is (faces × labels) votes, ``model_labels`` (faces × models) label indices; every face
    must have two or more votes and a label from every model (the caller picks such faces). Kappa is
    :mod:`.agreement`'s Fleiss (unequal numbers of raters allowed); a coarser level sums the counts of the
    labels it groups. ``difference`` is humans minus models, from the same resamples.
    """
    h = np.asarray(human_counts, dtype=np.int64)
    r = np.asarray(model_labels, dtype=np.int64)
    k = len(labels)
    if len(h) == 0:
        reason = "no face has both annotator votes and a label from every model"
        none = Estimate(None, None, None, reason).to_json()
        return {"n_faces": 0, "reason": reason, "levels": {}, "humans": none, "models": none}
    if np.any(h.sum(axis=1) < 2) or np.any(r < 0):
        raise ValueError("every face needs two or more votes and a label from every model")
    m = rating_counts(r, k)
    maps = _level_maps(labels)

    def stat(rows: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for lv, (classes, mp) in maps.items():
            c = len(classes)
            for who, part in (("humans", rows[:, :k]), ("models", rows[:, k:])):
                s = _stats(w @ _features((part @ mp).astype(np.int64)), c)
                out[f"{lv}:{who}"] = s["fleiss_kappa"]
                out[f"{lv}:{who}:per"] = s["per_category"]
            out[f"{lv}:diff"] = out[f"{lv}:humans"] - out[f"{lv}:models"]
        return out

    point, boot = paired_statistics(np.hstack([h, m]), stat, n_resamples=n_resamples, seed=seed, key=key)

    def est(name: str, j: int | None = None, reason: str = "undefined (a single label used by every rater)"):  # type: ignore[no-untyped-def]
        p = point[name] if j is None else point[name][j]
        b = None if boot is None else (boot[name] if j is None else boot[name][:, j])
        return _estimate(float(p), b, reason, confidence).to_json()

    levels: dict[str, Any] = {}
    for lv, (classes, _) in maps.items():
        levels[lv] = {
            "classes": list(classes),
            "humans": est(f"{lv}:humans"),
            "models": est(f"{lv}:models"),
            "difference": est(f"{lv}:diff"),
            "per_class": {
                c: {
                    "humans": est(f"{lv}:humans:per", j, "no rater or every rater used this label"),
                    "models": est(f"{lv}:models:per", j, "no rater or every rater used this label"),
                }
                for j, c in enumerate(classes)
            },
        }
    return {
        "n_faces": int(len(h)),
        "n_votes": int(h.sum()),
        "n_models": int(r.shape[1]),
        "labels": list(labels),
        "humans": levels["fine"]["humans"],
        "models": levels["fine"]["models"],
        "levels": levels,
        "ci": ci_info(n_resamples, confidence, seed) | {"paired": True},
    }


# ------------------------------------------------------------------------------ the human-level score


def leave_one_out_plurality(counts: np.ndarray, *, strict: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per face: (score summed over its votes, number of scored votes), one annotator vs the others.

    For each vote, take it out and find the plurality of the remaining votes on that face: the vote scores
    ``1/t`` when its label is one of ``t`` tied top labels (ties split evenly), ``0`` otherwise; with
    ``strict`` a tie scores 0. A vote with no other vote on its face is not scored. Exact: every vote for the
    same label on a face scores the same, so each label is evaluated once and weighted by its count.
    """
    c = np.asarray(counts, dtype=np.int64)
    n, k = c.shape
    others = c[:, None, :] - np.eye(k, dtype=np.int64)[None]  # (faces, label voted, counts of the others)
    top = others.max(axis=2)
    is_top = others == top[:, :, None]
    n_top = is_top.sum(axis=2)
    mine = is_top[:, np.arange(k), np.arange(k)]  # the voted label is among the others' top labels
    score = np.where(mine, 1.0 / n_top, 0.0)
    if strict:
        score = np.where(n_top == 1, score, 0.0)
    scored = (c > 0) & (others.sum(axis=2) > 0)
    weight = np.where(scored, c, 0)
    return (weight * score).sum(axis=1), weight.sum(axis=1).astype(np.float64)


def plurality_hits(counts: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per face, a rater's score against the plurality of the votes: ``1/t`` if its label is one of ``t`` tied
    top labels, else 0 (NaN where the rater gave no label or the face has no vote)."""
    c = np.asarray(counts, dtype=np.int64)
    p = np.asarray(pred, dtype=np.int64)
    top = c.max(axis=1)
    is_top = c == top[:, None]
    out = np.full(len(c), np.nan)
    ok = (p >= 0) & (top > 0)
    rows = np.flatnonzero(ok)
    out[rows] = is_top[rows, p[rows]] / is_top[rows].sum(axis=1)
    return out


def human_level(
    counts: np.ndarray,
    preds: Mapping[str, np.ndarray],
    *,
    all_counts: np.ndarray | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    key: str = "people:human-level",
) -> dict[str, Any]:
    """The human-level score and each model's score on the same faces, with the paired gap to humans.

    ``counts``: expression votes (faces × labels) of the faces to score (e.g. FER+'s majority faces), every
    model having labelled each. ``all_counts`` (faces × every vote column, non-expression ones included)
    gives the stricter variant: every voter counts and ties score 0.
    """
    c = np.asarray(counts, dtype=np.int64)
    if len(c) == 0:
        none = Estimate(None, None, None, "no face to score").to_json()
        return {"n_faces": 0, "humans": none, "models": {}}
    num, den = leave_one_out_plurality(c)
    cols = [num, den]
    if all_counts is not None:
        cols += list(leave_one_out_plurality(all_counts, strict=True))
    ids = list(preds)
    cols += [plurality_hits(c, preds[mid]) for mid in ids]
    table = np.stack(cols, axis=1)
    n_h = 4 if all_counts is not None else 2

    def stat(rows: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
        s = w @ rows
        n = w.sum(axis=-1)
        out = {"humans": s[..., 0] / s[..., 1]}
        if all_counts is not None:
            out["strict"] = s[..., 2] / s[..., 3]
        for j, mid in enumerate(ids):
            out[mid] = s[..., n_h + j] / n
            out[f"{mid}:gap"] = out[mid] - out["humans"]
        return out

    point, boot = paired_statistics(table, stat, n_resamples=n_resamples, seed=seed, key=key)

    def est(name: str) -> dict[str, Any]:
        return _estimate(
            float(point[name]), None if boot is None else boot[name], "undefined", confidence
        ).to_json()

    models: dict[str, dict[str, Any]] = {}
    for mid in ids:
        gap = est(f"{mid}:gap")
        models[mid] = {"score": est(mid), "gap_to_humans": gap, "placement": _placement(gap)}
    out: dict[str, Any] = {
        "n_faces": int(len(c)),
        "n_votes": int(den.sum()),
        "humans": est("humans"),
        "models": models,
        "ci": ci_info(n_resamples, confidence, seed) | {"paired": True},
    }
    if all_counts is not None:
        out["humans_strict_every_voter"] = est("strict")
    return out


def _placement(gap: Mapping[str, Any]) -> str | None:
    """Where a model sits relative to the human level: only 'above' / 'below' when the interval says so."""
    if gap.get("ci_low") is None or gap.get("ci_high") is None:
        return None
    return "above" if gap["ci_low"] > 0 else "below" if gap["ci_high"] < 0 else "level with"


# --------------------------------------------------------------------------------- rank correlation


def _midranks(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Midranks of each distinct row's value in the sample where row ``u`` occurs ``w[..., u]`` times."""
    uniq, g = np.unique(values, return_inverse=True)
    onehot = np.zeros((len(values), len(uniq)))
    onehot[np.arange(len(values)), g] = 1.0
    per = w @ onehot  # (..., G) how many items have each distinct value
    below = np.cumsum(per, axis=-1) - per
    return below[..., g] + (per[..., g] + 1.0) / 2.0


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    n = w.sum(axis=-1, keepdims=True)
    mx = (w * x).sum(axis=-1, keepdims=True) / n
    my = (w * y).sum(axis=-1, keepdims=True) / n
    dx, dy = x - mx, y - my
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * dx * dy).sum(axis=-1) / np.sqrt((w * dx * dx).sum(axis=-1) * (w * dy * dy).sum(axis=-1))


def spearman_estimate(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    key: str = "spearman",
) -> Estimate:
    """Spearman's rank correlation (midranks for ties) with a percentile bootstrap interval over items.

    Each resample's correlation is computed exactly on the resampled items, from how often each distinct
    (x, y) pair was drawn. ``None`` with a reason when fewer than three items or a constant variable.
    """
    xy = np.stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)], axis=1)
    xy = xy[np.all(np.isfinite(xy), axis=1)]
    if len(xy) < 3:
        return Estimate(None, None, None, "fewer than three items")

    def stat(rows: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
        return {"rho": _weighted_pearson(_midranks(rows[:, 0], w), _midranks(rows[:, 1], w), w)}

    point, boot = paired_statistics(xy, stat, n_resamples=n_resamples, seed=seed, key=key)
    return _estimate(
        float(point["rho"]), None if boot is None else boot["rho"], "a variable is constant", confidence
    )


# ---------------------------------------------------------------------------- agree / split cells


def top_share(counts: np.ndarray) -> np.ndarray:
    """Per face, the share of its raters who gave the most common label (NaN where no rater)."""
    c = np.asarray(counts, dtype=np.float64)
    n = c.sum(axis=1)
    return np.divide(c.max(axis=1), n, out=np.full(len(c), np.nan), where=n > 0)


def agreement_cells(
    human_counts: np.ndarray, model_counts: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(people agree, models agree) per face: the most common label holds at least ``threshold`` of the
    raters' labels."""
    return top_share(human_counts) >= threshold - 1e-12, top_share(model_counts) >= threshold - 1e-12


__all__ = [
    "HEADLINE_LEVELS",
    "agreement_cells",
    "human_level",
    "leave_one_out_plurality",
    "paired_statistics",
    "plurality_hits",
    "same_faces_kappa",
    "spearman_estimate",
    "top_share",
]
