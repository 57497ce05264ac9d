"""Where raters disagree: which label pairs they swap, which items are most disputed.

Pure functions of (items × raters) label indices (``-1``: no label) and count tables.
"""

from __future__ import annotations

import numpy as np

from .agreement import rating_counts


def pooled_pair_confusion(ratings: np.ndarray, n_categories: int) -> np.ndarray:
    """(k × k) counts of (label of rater A, label of rater B) pooled over all *ordered* pairs of raters.

    Each pair of raters contributes its confusion matrix and that matrix's transpose, so the result is
    symmetric: cell (i, j) counts how often one rater said i where another said j. Only items both raters
    of a pair labelled count for that pair.
    """
    r = np.asarray(ratings)
    k = n_categories
    out = np.zeros((k, k), dtype=np.int64)
    for i in range(r.shape[1]):
        for j in range(i + 1, r.shape[1]):
            ok = (r[:, i] >= 0) & (r[:, j] >= 0)
            cm = np.bincount(r[ok, i] * k + r[ok, j], minlength=k * k).reshape(k, k)
            out += cm + cm.T
    return out


def vote_entropy(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each item's distribution of votes; 0 when every rater gave the same label."""
    c = np.asarray(counts, dtype=np.float64)
    n = c.sum(axis=1, keepdims=True)
    p = np.divide(c, n, out=np.zeros_like(c), where=n > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(p), 0.0)
    return terms.sum(axis=1)


def most_disputed(
    ratings: np.ndarray,
    n_categories: int,
    n: int = 20,
    proba: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the ``n`` items with the highest vote entropy across raters (items with ≥ 2 labels).

    Ties (frequent with few raters) are broken by the entropy of the raters' mean probability vector when
    ``proba`` (items × raters × k) is given, then by item order, so the list is deterministic.
    """
    r = np.asarray(ratings)
    counts = rating_counts(r, n_categories)
    ent = vote_entropy(counts)
    eligible = np.flatnonzero(counts.sum(axis=1) >= 2)
    if len(eligible) > n:  # only items that can make the list need the (costly) tie-break
        cut = np.partition(ent[eligible], len(eligible) - n)[len(eligible) - n]
        eligible = eligible[ent[eligible] >= cut]
    soft = np.zeros(len(eligible))
    if proba is not None and len(eligible):
        p = np.asarray(proba)[eligible].astype(np.float64)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(p, axis=1)
        soft = vote_entropy(np.nan_to_num(mean, nan=0.0))
    order = np.lexsort((eligible, -soft, -ent[eligible]))
    return eligible[order[:n]]
