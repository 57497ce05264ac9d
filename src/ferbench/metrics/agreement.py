"""Agreement among raters (models, or people) who each put one label on the same items.

Inputs are an (items × raters) array of category indices, ``-1`` meaning "no rating". Definitions follow
Fleiss (1971) and Cohen (1960); tests cross-check them against statsmodels and scikit-learn.
"""

from __future__ import annotations

import numpy as np


def rating_counts(ratings: np.ndarray, n_categories: int) -> np.ndarray:
    """(items × raters) category indices → (items × categories) counts; ``-1`` entries are skipped."""
    r = np.asarray(ratings)
    if r.ndim != 2:
        raise ValueError("ratings must be a 2-D (items × raters) array")
    counts = np.zeros((r.shape[0], n_categories), dtype=np.int64)
    for j in range(r.shape[1]):
        col = r[:, j]
        ok = col >= 0
        np.add.at(counts, (np.flatnonzero(ok), col[ok]), 1)
    return counts


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa from an (items × categories) count table with the same number of raters per item.

    Returns ``None`` when it is undefined (fewer than two raters, or expected agreement of one: a single
    category used by everyone).
    """
    c = np.asarray(counts, dtype=np.float64)
    n_raters = c.sum(axis=1)
    if c.shape[0] == 0 or np.any(n_raters != n_raters[0]):
        raise ValueError("every item needs the same number of ratings for Fleiss' kappa")
    n = n_raters[0]
    if n < 2:
        return None
    p_j = c.sum(axis=0) / c.sum()
    p_i = (np.sum(c * c, axis=1) - n) / (n * (n - 1))
    p_bar = p_i.mean()
    p_e = float(np.sum(p_j * p_j))
    if p_e >= 1.0:
        return None
    return float((p_bar - p_e) / (1 - p_e))


def cohen_kappa(a: np.ndarray, b: np.ndarray, n_categories: int) -> float | None:
    """Cohen's kappa between two raters over the items both rated; ``None`` where undefined."""
    a = np.asarray(a)
    b = np.asarray(b)
    ok = (a >= 0) & (b >= 0)
    a, b = a[ok], b[ok]
    if len(a) == 0:
        return None
    cm = np.zeros((n_categories, n_categories))
    np.add.at(cm, (a, b), 1)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float(np.sum(cm.sum(0) * cm.sum(1))) / (n * n)
    if pe >= 1.0:
        return None
    return float((po - pe) / (1 - pe))


def cohen_kappa_matrix(ratings: np.ndarray, n_categories: int) -> np.ndarray:
    """Symmetric (raters × raters) matrix of pairwise Cohen's kappa (NaN where undefined; 1 on the diagonal)."""
    r = np.asarray(ratings)
    k = r.shape[1]
    out = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            v = cohen_kappa(r[:, i], r[:, j], n_categories)
            out[i, j] = out[j, i] = np.nan if v is None else v
    return out


def percent_agreement(ratings: np.ndarray) -> float:
    """Mean share of agreeing rater pairs per item (the observed agreement of Fleiss' kappa)."""
    r = np.asarray(ratings)
    n_cat = int(r.max()) + 1 if r.size else 1
    counts = rating_counts(r, n_cat).astype(np.float64)
    n = counts.sum(axis=1)
    if np.any(n < 2):
        raise ValueError("percent agreement needs at least two ratings per item")
    return float(np.mean((np.sum(counts * counts, axis=1) - n) / (n * (n - 1))))
