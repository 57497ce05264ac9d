"""One JSON-ready block of agreement statistics for a set of raters, as ``metrics.json`` stores it.

Used for models (the ``agreement`` section), for coarser label levels (``agreement_levels``) and for people
(``humans``), so every block has the same keys and meanings:

``n_items``                 items every rater rated (Fleiss, Cohen, percent agreement and shares use these)
``fleiss_kappa``            ``{"value", "ci_low", "ci_high"}`` (+ ``reason`` when value is null)
``krippendorff_alpha``      same form; over items at least two raters rated (missing ratings allowed)
``fleiss_kappa_per_class``  ``{label: {...}}`` Fleiss (1971) kappa of "this label vs any other"
``share_all_agree`` / ``share_majority`` / ``share_no_majority``   shares of items, with intervals
``percent_agreement``       float: mean share of agreeing rater pairs (``percent_agreement_ci`` with interval)
``cohen_kappa``             ``{A: {B: float|null}}`` pairwise; ``cohen_kappa_ci`` the same with intervals
``ci``                      how the intervals were made (method, resamples, confidence, seed)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .agreement import Estimate, ci_info, cohen_kappa_estimate, count_agreement, rating_counts
from .bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES

DISJOINT = "the two raters share no label they can give, so their agreement is not comparable"


def _null(reason: str) -> dict[str, Any]:
    return Estimate(None, None, None, reason).to_json()


def empty_block(
    reason: str, labels: Sequence[str], n_items: int = 0, *, n_resamples: int = 0, seed: int = 0
) -> dict[str, Any]:
    """The block's shape with every statistic null and the reason, for fewer than two raters or no items."""
    return {
        "n_items": n_items,
        "fleiss_kappa": _null(reason),
        "krippendorff_alpha": _null(reason),
        "fleiss_kappa_per_class": {lab: _null(reason) for lab in labels},
        "share_all_agree": _null(reason),
        "share_majority": _null(reason),
        "share_no_majority": _null(reason),
        "percent_agreement": None,
        "percent_agreement_ci": _null(reason),
        "cohen_kappa": {},
        "cohen_kappa_ci": {},
        "ci": ci_info(n_resamples, DEFAULT_CONFIDENCE, seed),
    }


def ratings_block(
    ratings: np.ndarray,
    labels: Sequence[str],
    rater_ids: Sequence[str],
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    label_sets: Mapping[str, set[str]] | None = None,
    key: str = "models",
) -> dict[str, Any]:
    """Agreement block for an (items × raters) array of label indices (``-1``: the rater gave no label)."""
    r = np.asarray(ratings)
    k = len(labels)
    ids = list(rater_ids)
    if r.ndim != 2 or r.shape[1] != len(ids):
        raise ValueError("ratings must be (items × raters) with one column per rater id")
    if len(ids) < 2:
        return empty_block("agreement needs at least two raters", labels, seed=seed)
    complete = np.all(r >= 0, axis=1)
    if not complete.any():
        return empty_block("no item was rated by every rater", labels, seed=seed)
    full = r[complete]
    res = count_agreement(
        rating_counts(full, k),
        labels,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        key=f"{key}:counts",
    )
    doc = res.to_json()
    # Krippendorff's alpha may use every item with at least two ratings, not only the complete ones.
    counts_all = rating_counts(r, k)
    pairable = counts_all.sum(axis=1) >= 2
    if pairable.sum() > complete.sum():
        alpha = count_agreement(
            counts_all[pairable], labels, n_resamples=n_resamples, confidence=confidence, seed=seed,
            key=f"{key}:alpha",
        ).krippendorff_alpha  # fmt: skip
        doc["krippendorff_alpha"] = alpha.to_json()
    doc["krippendorff_alpha"]["n_items"] = int(pairable.sum())
    cohen: dict[str, dict[str, float | None]] = {a: {} for a in ids}
    cohen_ci: dict[str, dict[str, dict[str, Any]]] = {a: {} for a in ids}
    for i, a in enumerate(ids):
        one = Estimate(1.0, 1.0, 1.0).to_json()
        cohen[a][a], cohen_ci[a][a] = 1.0, one
        for j in range(i + 1, len(ids)):
            b = ids[j]
            if label_sets is not None and not (
                label_sets.get(a, set(labels)) & label_sets.get(b, set(labels))
            ):
                est = Estimate(None, None, None, DISJOINT)
            else:
                est = cohen_kappa_estimate(
                    full[:, i], full[:, j], k, n_resamples=n_resamples, confidence=confidence, seed=seed,
                    key=f"{key}:cohen:{a}|{b}",
                )  # fmt: skip
            cohen[a][b] = cohen[b][a] = est.value
            cohen_ci[a][b] = cohen_ci[b][a] = est.to_json()
    return {
        "n_items": int(complete.sum()),
        "fleiss_kappa": doc["fleiss_kappa"],
        "krippendorff_alpha": doc["krippendorff_alpha"],
        "fleiss_kappa_per_class": doc["fleiss_kappa_per_class"],
        "share_all_agree": doc["share_all_agree"],
        "share_majority": doc["share_majority"],
        "share_no_majority": doc["share_no_majority"],
        "percent_agreement": doc["percent_agreement"]["value"],
        "percent_agreement_ci": doc["percent_agreement"],
        "cohen_kappa": cohen,
        "cohen_kappa_ci": cohen_ci,
        "ci": doc["ci"],
    }
