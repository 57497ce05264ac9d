"""Defined-or-null rules: bad input raises ValueError, undefined statistics are None with a reason, never NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ferbench.metrics.agreement import (
    check_ratings,
    cohen_kappa,
    cohen_kappa_estimate,
    count_agreement,
    fleiss_kappa,
    fleiss_kappa_per_category,
    krippendorff_alpha,
    rating_counts,
)


def _no_nan(obj: object) -> None:
    """json.dumps with allow_nan=False fails on any NaN or infinity anywhere in the document."""
    json.dumps(obj, allow_nan=False)


def test_fewer_than_two_raters_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least two raters"):
        check_ratings(np.array([[0], [1]]), 3)


def test_item_rated_by_no_one_is_an_error() -> None:
    r = np.array([[0, 1], [-1, -1], [1, 1]])
    with pytest.raises(ValueError, match=r"no ratings \(first: row 1\)"):
        check_ratings(r, 2)


def test_vote_rows_summing_to_zero_are_an_error() -> None:
    counts = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 0]])
    for fn in (fleiss_kappa, krippendorff_alpha, fleiss_kappa_per_category, count_agreement):
        with pytest.raises(ValueError, match="drop unrated items"):
            fn(counts)


def test_malformed_counts_are_errors() -> None:
    with pytest.raises(ValueError, match="negative"):
        fleiss_kappa(np.array([[3, -1], [1, 1]]))
    with pytest.raises(ValueError, match="whole numbers"):
        fleiss_kappa(np.array([[1.5, 0.5], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="whole numbers"):
        fleiss_kappa(np.array([[np.nan, 2.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        fleiss_kappa(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="category indices"):
        rating_counts(np.array([[0, 5]]), 3)


def test_single_category_is_null_with_reason() -> None:
    counts = np.array([[4, 0, 0], [4, 0, 0], [4, 0, 0]])
    assert fleiss_kappa(counts) is None
    assert krippendorff_alpha(counts) is None
    res = count_agreement(counts, ["a", "b", "c"], n_resamples=50)
    doc = res.to_json()
    _no_nan(doc)
    assert doc["fleiss_kappa"]["value"] is None and "one category" in doc["fleiss_kappa"]["reason"]
    assert doc["krippendorff_alpha"]["value"] is None
    assert doc["fleiss_kappa_per_class"]["a"]["reason"] == "every rating used this category"
    assert doc["fleiss_kappa_per_class"]["b"]["reason"] == "no rating used this category"
    assert doc["share_all_agree"]["value"] == 1.0  # still well defined


def test_unused_category_has_null_per_class_kappa_only() -> None:
    r = np.random.default_rng(0).integers(0, 3, (100, 4))  # category 3 never used
    res = count_agreement(rating_counts(r, 4), n_resamples=100).to_json()
    _no_nan(res)
    assert res["fleiss_kappa"]["value"] is not None
    assert res["fleiss_kappa_per_class"]["3"]["value"] is None
    assert res["fleiss_kappa_per_class"]["0"]["ci_low"] is not None


def test_only_single_ratings_is_null_with_reason() -> None:
    counts = np.array([[1, 0], [0, 1], [1, 0]])
    assert fleiss_kappa(counts) is None
    res = count_agreement(counts).to_json()
    _no_nan(res)
    assert res["n_items"] == 0 and res["n_single_rating_items"] == 3
    assert "no item has two" in res["fleiss_kappa"]["reason"]


def test_cohen_undefined_and_disjoint() -> None:
    a = np.zeros(10, dtype=int)
    assert cohen_kappa(a, a, 3) is None  # one shared label: chance agreement 1
    e = cohen_kappa_estimate(a, a, 3)
    assert e.value is None and "chance agreement is 1" in (e.reason or "")
    assert (
        cohen_kappa_estimate(np.full(4, -1), np.zeros(4, int), 2).reason == "no item was rated by both raters"
    )
    # raters whose labels never overlap: observed = chance = 0, kappa 0 (as scikit-learn defines it)
    assert cohen_kappa(np.array([0, 1, 0, 1]), np.array([2, 3, 3, 2]), 4) == 0.0


def test_bootstrap_with_undefined_resamples_stays_finite() -> None:
    # one dissenting rating among many: some resamples miss it and every rating is then category 0
    counts = np.array([[3, 0]] * 9 + [[2, 1]])
    res = count_agreement(counts, n_resamples=400, seed=3)
    doc = res.to_json()
    _no_nan(doc)
    fk = doc["fleiss_kappa"]
    assert fk["value"] is not None and math.isfinite(fk["ci_low"]) and fk["ci_low"] <= fk["ci_high"]
