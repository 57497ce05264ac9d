"""Agreement among raters (models, or people) who each put one label on the same items.

Two input forms:

* a *ratings* array, (items × raters) of category indices, ``-1`` meaning "no rating";
* a *count table*, (items × categories) of how many raters chose each category (what vote files such as
  FER+'s hold). :func:`rating_counts` turns the first into the second.

Statistics (definitions in ``docs/agreement.md``; tests cross-check them against statsmodels, scikit-learn and
the ``krippendorff`` package):

* Fleiss' kappa (Fleiss 1971), overall and per category. With unequal numbers of ratings per item the
  observed agreement is the mean over items of each item's share of agreeing rater pairs and the category
  shares are pooled over all ratings; with equal numbers this is exactly Fleiss' definition.
* Krippendorff's alpha, nominal, which allows missing ratings (items with one rating are unpairable and left
  out, as Krippendorff defines it).
* Percent agreement: the mean share of agreeing rater pairs per item (Fleiss' observed agreement).
* Shares of items on which all raters / a strict majority of raters agree, and on which no label has a
  strict majority.
* Cohen's kappa for each pair of raters over the items both rated.

Defined-or-null rules (one place, so every caller behaves the same):

* malformed input (not 2-D, negative or fractional counts, a rating outside the categories, fewer than two
  rater columns, an item rated by no one / a count row that sums to zero): ``ValueError`` naming the problem.
  Drop unrated items explicitly (e.g. FER+ faces whose ten votes are all "not a face") before calling.
* a statistic that is mathematically undefined for valid input (no item with two ratings; a single category
  used by every rating, so chance agreement is 1; a category nobody or everybody chose, for its per-category
  kappa): ``None``, and the :class:`Estimate` carries the reason. NaN never leaves this module as a number.

Every statistic also comes with a percentile bootstrap interval over items (:mod:`ferbench.metrics.bootstrap`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    Method,
    compress,
    percentile_interval,
    resample_weights,
    rng_for,
)

ONE_CATEGORY = (
    "only one category was used by every rating: chance agreement is 1, so the statistic is undefined"
)
NO_PAIRS = "no item has two or more ratings, so there are no rater pairs to compare"


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap interval; ``value`` is ``None`` (with ``reason``) where undefined."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    reason: str | None = None
    n_undefined: int | None = None  # resamples where the statistic was undefined (None: no interval drawn)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}
        if self.n_undefined is not None:
            d["n_undefined_resamples"] = self.n_undefined
        if self.reason:
            d["reason"] = self.reason
        return d


def _num(x: Any) -> float | None:
    """A finite float, or None: the one gate through which values leave this module."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


# ---------------------------------------------------------------------------------------------- validation


def rating_counts(ratings: np.ndarray, n_categories: int) -> np.ndarray:
    """(items × raters) category indices → (items × categories) counts; ``-1`` entries are skipped."""
    r = np.asarray(ratings)
    if r.ndim != 2:
        raise ValueError("ratings must be a 2-D (items × raters) array")
    if r.size and (r.max() >= n_categories or r.min() < -1):
        raise ValueError(f"ratings must be category indices 0..{n_categories - 1} or -1 (no rating)")
    n = r.shape[0]
    ok = r >= 0
    items = np.broadcast_to(np.arange(n)[:, None], r.shape)[ok]
    flat = np.bincount(items * n_categories + r[ok], minlength=n * n_categories)
    return flat.reshape(n, n_categories).astype(np.int64)


def check_ratings(ratings: np.ndarray, n_categories: int) -> np.ndarray:
    """Validate a ratings array for agreement and return its count table.

    Raises ``ValueError`` for fewer than two raters or an item that no rater rated.
    """
    r = np.asarray(ratings)
    if r.ndim != 2:
        raise ValueError("ratings must be a 2-D (items × raters) array")
    if r.shape[1] < 2:
        raise ValueError(f"agreement needs at least two raters, got {r.shape[1]}")
    counts = rating_counts(r, n_categories)
    check_counts(counts)
    return counts


def check_counts(counts: np.ndarray) -> np.ndarray:
    """Validate an (items × categories) count table; return it as int64.

    Raises ``ValueError`` for a wrong shape, negative or fractional counts, no items, or a row that sums to zero
    (an item rated by no one: drop such items explicitly, so that losing votes never passes silently).
    """
    c = np.asarray(counts)
    if c.ndim != 2 or c.shape[1] < 1:
        raise ValueError("counts must be a 2-D (items × categories) table")
    if c.shape[0] == 0:
        raise ValueError("counts has no items")
    if not np.issubdtype(c.dtype, np.integer):
        if not np.all(np.isfinite(c)) or np.any(c != np.round(c)):
            raise ValueError("counts must be whole numbers of ratings")
    c = c.astype(np.int64)
    if np.any(c < 0):
        raise ValueError("counts must not be negative")
    empty = np.flatnonzero(c.sum(axis=1) == 0)
    if len(empty):
        raise ValueError(
            f"{len(empty)} item(s) have no ratings (first: row {empty[0]}); drop unrated items before "
            "computing agreement"
        )
    return c


# ------------------------------------------------------------------------------ features and statistics
#
# Per item (only items with n_i >= 2 take part): column layout of the feature table.
_N, _R, _P, _D, _ALL, _MAJ, _CAT = 0, 1, 2, 3, 4, 5, 6


#: Chance agreement this close to 1 counts as 1: Fleiss' and Cohen's kappa (point values and every bootstrap
#: replicate alike) are then undefined (NaN, reported as null with a reason, counted as undefined resamples).
CHANCE_AGREEMENT_TOL = 1e-12


def chance_corrected(observed: np.ndarray, chance: np.ndarray) -> np.ndarray:
    """``(observed - chance) / (1 - chance)``, NaN where chance agreement is 1: the one degeneracy rule."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(chance < 1 - CHANCE_AGREEMENT_TOL, (observed - chance) / (1 - chance), np.nan)


def count_statistics(rows: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every count-table statistic once per resample, from distinct count rows and their (B, U) weights
    (:func:`~ferbench.metrics.bootstrap.pattern_weights`); NaN marks an undefined replicate."""
    return _stats(np.asarray(weights, dtype=np.float64) @ _features(rows), rows.shape[1])


def _features(rows: np.ndarray) -> np.ndarray:
    """Per-item sufficient statistics from count rows; every statistic is a function of their sums."""
    c = rows.astype(np.float64)
    k = c.shape[1]
    n = c.sum(axis=1)
    pair = n >= 2
    n_safe = np.where(pair, n, 2.0)
    sq = np.sum(c * c, axis=1)
    f = np.zeros((len(c), _CAT + 2 * k))
    f[:, _N] = 1.0
    f[:, _R] = n
    f[:, _P] = (sq - n) / (n_safe * (n_safe - 1))  # share of agreeing rater pairs
    f[:, _D] = (n * n - sq) / (n_safe - 1)  # Krippendorff's disagreeing pairable values
    mx = c.max(axis=1)
    f[:, _ALL] = mx == n
    f[:, _MAJ] = 2 * mx > n
    f[:, _CAT : _CAT + k] = c
    f[:, _CAT + k :] = c * (n[:, None] - c) / (n_safe[:, None] - 1)
    f[~pair] = 0.0
    return f


def _stats(sums: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """All count-table statistics from feature sums; works on (F,) or (B, F); NaN marks 'undefined'."""
    s = np.asarray(sums, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_items = s[..., _N]
        total = s[..., _R]
        cat = s[..., _CAT : _CAT + k]
        dis = s[..., _CAT + k :]
        p_bar = s[..., _P] / n_items
        p = cat / total[..., None]
        p_e = np.sum(p * p, axis=-1)
        fleiss = chance_corrected(p_bar, p_e)
        pq = p * (1 - p)
        per_cat = np.where(pq > 0, 1 - dis / (total[..., None] * pq), np.nan)
        d_e = total * total - np.sum(cat * cat, axis=-1)
        alpha = np.where(d_e > 0, 1 - (total - 1) * s[..., _D] / d_e, np.nan)
        majority = s[..., _MAJ] / n_items
        return {
            "fleiss_kappa": fleiss,
            "krippendorff_alpha": alpha,
            "percent_agreement": p_bar,
            "share_all": s[..., _ALL] / n_items,
            "share_majority": majority,
            "share_no_majority": 1 - majority,
            "per_category": per_cat,
        }


def _point(counts: np.ndarray) -> dict[str, np.ndarray]:
    c = check_counts(counts)
    return _stats(_features(c).sum(axis=0), c.shape[1])


def fleiss_kappa(counts: np.ndarray, *, allow_unequal: bool = False) -> float | None:
    """Fleiss' kappa from an (items × categories) count table.

    By default every item must have the same number of ratings (Fleiss 1971; ``ValueError`` otherwise);
    ``allow_unequal=True`` accepts varying numbers (items with a single rating are left out). Returns ``None``
    when undefined: fewer than two ratings per item, or a single category used by everyone.
    """
    c = check_counts(counts)
    n = c.sum(axis=1)
    if not allow_unequal and np.any(n != n[0]):
        raise ValueError("every item needs the same number of ratings for Fleiss' kappa")
    if n.max() < 2:
        return None
    return _num(_stats(_features(c).sum(axis=0), c.shape[1])["fleiss_kappa"])


def fleiss_kappa_per_category(counts: np.ndarray) -> list[float | None]:
    """Fleiss' (1971) kappa for each category: agreement on "this category vs any other".

    It equals Fleiss' kappa of the two-column table (category, everything else). ``None`` for a category that
    no rating or every rating used.
    """
    c = check_counts(counts)
    return [_num(v) for v in _point(c)["per_category"]]


def krippendorff_alpha(counts: np.ndarray) -> float | None:
    """Krippendorff's alpha (nominal) from a count table; missing ratings are simply absent counts."""
    return _num(_point(counts)["krippendorff_alpha"])


def agreement_shares(counts: np.ndarray) -> dict[str, float | None]:
    """Shares of items (with two or more ratings) where all raters agree, a strict majority agrees, or none."""
    s = _point(counts)
    return {k: _num(s[k]) for k in ("share_all", "share_majority", "share_no_majority")}


def cohen_kappa(a: np.ndarray, b: np.ndarray, n_categories: int) -> float | None:
    """Cohen's kappa between two raters over the items both rated; ``None`` where undefined.

    Undefined: no item rated by both, or chance agreement of 1 (both raters used one and the same label).
    Two raters whose labels never overlap get kappa 0 (observed and chance agreement are both 0), as in
    scikit-learn.
    """
    return cohen_kappa_estimate(a, b, n_categories, n_resamples=0).value


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


# ------------------------------------------------------------------------------------ with intervals


@dataclass
class CountAgreement:
    """Agreement statistics of one count table, each with a bootstrap interval over items."""

    n_items: int  # items with two or more ratings (the ones every statistic uses)
    n_ratings: int
    n_single: int  # items with exactly one rating (unpairable, left out)
    fleiss_kappa: Estimate
    krippendorff_alpha: Estimate
    percent_agreement: Estimate
    share_all: Estimate
    share_majority: Estimate
    share_no_majority: Estimate
    per_category: dict[str, Estimate] = field(default_factory=dict)
    ci: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "n_ratings": self.n_ratings,
            "n_single_rating_items": self.n_single,
            "fleiss_kappa": self.fleiss_kappa.to_json(),
            "krippendorff_alpha": self.krippendorff_alpha.to_json(),
            "percent_agreement": self.percent_agreement.to_json(),
            "share_all_agree": self.share_all.to_json(),
            "share_majority": self.share_majority.to_json(),
            "share_no_majority": self.share_no_majority.to_json(),
            "fleiss_kappa_per_class": {k: v.to_json() for k, v in self.per_category.items()},
            "ci": self.ci,
        }


def ci_info(n_resamples: int, confidence: float, seed: int) -> dict[str, Any]:
    return {
        "method": "percentile bootstrap over items",
        "n_resamples": n_resamples,
        "confidence": confidence,
        "seed": seed,
    }


def _estimate(value: float | np.ndarray, boot: np.ndarray | None, confidence: float, reason: str) -> Estimate:
    v = _num(value)
    if v is None:
        return Estimate(None, None, None, reason)
    if boot is None:
        return Estimate(v)
    lo, hi, nu = percentile_interval(boot, confidence)
    return Estimate(v, _num(lo), _num(hi), n_undefined=int(nu))


def _category_reason(p: float) -> str:
    if p <= 0:
        return "no rating used this category"
    return "every rating used this category"


def count_agreement(
    counts: np.ndarray,
    categories: Sequence[str] | None = None,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    method: Method = "auto",
    key: str = "counts",
) -> CountAgreement:
    """Every count-table statistic with a percentile bootstrap interval from one shared set of item resamples.

    ``n_resamples=0`` skips the intervals. ``key`` names the stream of random numbers (see ``rng_for``), so two
    tables in one run get independent but reproducible resamples.
    """
    c = check_counts(counts)
    k = c.shape[1]
    names = list(categories) if categories is not None else [str(j) for j in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} category names for {k} count columns")
    n_per = c.sum(axis=1)
    pair = n_per >= 2
    info = ci_info(n_resamples, confidence, seed)
    if not pair.any():
        none = Estimate(None, None, None, NO_PAIRS)
        return CountAgreement(
            0, int(c.sum()), int((n_per == 1).sum()), none, none, none, none, none, none,
            {nm: none for nm in names}, info,
        )  # fmt: skip
    pat = compress(c[pair])
    feats = _features(pat.rows)
    point = _stats(pat.freq @ feats, k)
    boot: dict[str, np.ndarray] | None = None
    if n_resamples > 0:
        w = resample_weights(pat, n_resamples, rng_for(seed, key), method)
        boot = _stats(w.astype(np.float64) @ feats, k)

    def est(name: str, reason: str) -> Estimate:
        return _estimate(point[name], None if boot is None else boot[name], confidence, reason)

    p_cat = point["per_category"]
    shares = (c[pair].sum(axis=0) / c[pair].sum()).astype(float)
    per_cat = {
        nm: _estimate(
            p_cat[j],
            None if boot is None else boot["per_category"][:, j],
            confidence,
            _category_reason(shares[j]),
        )
        for j, nm in enumerate(names)
    }
    return CountAgreement(
        n_items=int(pair.sum()),
        n_ratings=int(c[pair].sum()),
        n_single=int((n_per == 1).sum()),
        fleiss_kappa=est("fleiss_kappa", ONE_CATEGORY),
        krippendorff_alpha=est("krippendorff_alpha", ONE_CATEGORY),
        percent_agreement=est("percent_agreement", NO_PAIRS),
        share_all=est("share_all", NO_PAIRS),
        share_majority=est("share_majority", NO_PAIRS),
        share_no_majority=est("share_no_majority", NO_PAIRS),
        per_category=per_cat,
        ci=info,
    )


def _pair_stats(sums: np.ndarray, k: int) -> np.ndarray:
    s = np.asarray(sums, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = s[..., 0]
        po = s[..., 1] / n
        pe = np.sum(s[..., 2 : 2 + k] * s[..., 2 + k :], axis=-1) / (n * n)
        return chance_corrected(po, pe)


def cohen_kappa_estimate(
    a: np.ndarray,
    b: np.ndarray,
    n_categories: int,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    method: Method = "auto",
    key: str = "cohen",
) -> Estimate:
    """Cohen's kappa over the items both raters rated, with a percentile bootstrap interval over those items."""
    a = np.asarray(a)
    b = np.asarray(b)
    ok = (a >= 0) & (b >= 0)
    if not ok.any():
        return Estimate(None, None, None, "no item was rated by both raters")
    k = n_categories
    pat = compress(np.stack([a[ok], b[ok]], axis=1).astype(np.int64))
    ra, rb = pat.rows[:, 0], pat.rows[:, 1]
    feats = np.zeros((len(ra), 2 + 2 * k))
    feats[:, 0] = 1
    feats[:, 1] = ra == rb
    feats[np.arange(len(ra)), 2 + ra] = 1
    feats[np.arange(len(ra)), 2 + k + rb] = 1
    point = _pair_stats(pat.freq @ feats, k)
    boot = None
    if n_resamples > 0:
        w = resample_weights(pat, n_resamples, rng_for(seed, key), method)
        boot = _pair_stats(w.astype(np.float64) @ feats, k)
    return _estimate(
        point, boot, confidence, "both raters used one and the same label: chance agreement is 1"
    )
