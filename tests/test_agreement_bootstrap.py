"""Bootstrap machinery: reproducible bit for bit, the two resampling methods agree, intervals behave."""

from __future__ import annotations

import numpy as np
import pytest

from ferbench.metrics.agreement import cohen_kappa_estimate, count_agreement, rating_counts
from ferbench.metrics.bootstrap import compress, percentile_interval, resample_weights, rng_for


def _counts(seed: int = 0, n: int = 3000, raters: int = 5, k: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    r = np.where(rng.random((n, raters)) < 0.5, truth[:, None], rng.integers(0, k, (n, raters)))
    return rating_counts(r, k)


def test_compress_round_trips() -> None:
    c = _counts()
    p = compress(c)
    assert np.array_equal(p.rows[p.inverse], c)
    assert p.freq.sum() == len(c) and len(p.freq) == len(np.unique(c, axis=0))
    f = np.random.default_rng(1).random((50, 3)).round(1)  # float rows take the generic path
    q = compress(f)
    assert np.array_equal(q.rows[q.inverse], f)


def test_weights_count_every_item_once_per_draw() -> None:
    p = compress(_counts())
    for method in ("multinomial", "index"):
        w = resample_weights(p, 20, rng_for(0, "t"), method)  # type: ignore[arg-type]
        assert w.shape == (20, len(p.freq))
        assert np.all(w.sum(axis=1) == p.n_items)


def test_methods_give_the_same_bootstrap_distribution() -> None:
    c = _counts(n=2000)
    a = count_agreement(c, n_resamples=1500, method="multinomial", seed=1)
    b = count_agreement(c, n_resamples=1500, method="index", seed=1)
    wa = a.fleiss_kappa.ci_high - a.fleiss_kappa.ci_low  # type: ignore[operator]
    wb = b.fleiss_kappa.ci_high - b.fleiss_kappa.ci_low  # type: ignore[operator]
    assert a.fleiss_kappa.value == b.fleiss_kappa.value
    assert wa == pytest.approx(wb, rel=0.15)


def test_same_seed_same_bits_other_seed_differs() -> None:
    c = _counts()
    x = count_agreement(c, seed=5).to_json()
    y = count_agreement(c, seed=5).to_json()
    z = count_agreement(c, seed=6).to_json()
    assert x == y
    assert x["fleiss_kappa"]["ci_low"] != z["fleiss_kappa"]["ci_low"]


def test_interval_width_matches_analytic_standard_error_for_a_share() -> None:
    """For the share of unanimous items (a proportion) the percentile interval ≈ ±1.96·sqrt(p(1-p)/n)."""
    c = _counts(n=5000)
    res = count_agreement(c, n_resamples=2000, seed=2)
    p = res.share_all.value
    assert p is not None and 0.05 < p < 0.95
    se = np.sqrt(p * (1 - p) / res.n_items)
    width = res.share_all.ci_high - res.share_all.ci_low  # type: ignore[operator]
    assert width == pytest.approx(2 * 1.96 * se, rel=0.12)
    assert res.share_all.ci_low < p < res.share_all.ci_high  # type: ignore[operator]


def test_interval_covers_the_truth_in_repeated_samples() -> None:
    """Raters copying a latent label w.p. 0.6: population Fleiss kappa is 0.6**2 + (1-0.6**2)·0 = 0.36."""
    covered = 0
    trials = 60
    for t in range(trials):
        rng = np.random.default_rng(1000 + t)
        truth = rng.integers(0, 4, 400)
        r = np.where(rng.random((400, 3)) < 0.6, truth[:, None], rng.integers(0, 4, (400, 3)))
        e = count_agreement(rating_counts(r, 4), n_resamples=300, seed=t).fleiss_kappa
        covered += e.ci_low <= 0.36 <= e.ci_high  # type: ignore[operator]
    assert covered / trials >= 0.85


def test_cohen_interval_contains_point_and_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 800)
    b = np.where(rng.random(800) < 0.5, a, rng.integers(0, 5, 800))
    e1 = cohen_kappa_estimate(a, b, 5, seed=9, key="x|y")
    e2 = cohen_kappa_estimate(a, b, 5, seed=9, key="x|y")
    assert e1 == e2
    assert e1.ci_low < e1.value < e1.ci_high  # type: ignore[operator]


def test_percentile_interval_ignores_undefined() -> None:
    s = np.array([np.nan, 1.0, 2.0, 3.0, np.nan])
    lo, hi, nu = percentile_interval(s, 0.5)
    assert nu == 2 and lo == pytest.approx(1.5) and hi == pytest.approx(2.5)
    lo, hi, nu = percentile_interval(np.full((4, 2), np.nan))
    assert np.all(np.isnan(lo)) and np.all(nu == 4)
