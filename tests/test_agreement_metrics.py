"""Every agreement statistic against an independent implementation, on random inputs."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from ferbench.metrics.agreement import (
    agreement_shares,
    cohen_kappa,
    cohen_kappa_estimate,
    cohen_kappa_matrix,
    count_agreement,
    fleiss_kappa,
    fleiss_kappa_per_category,
    krippendorff_alpha,
    percent_agreement,
    rating_counts,
)


def _raters(seed: int, n: int, raters: int, k: int, copy: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    noise = rng.integers(0, k, (n, raters))
    return np.where(rng.random((n, raters)) < copy, truth[:, None], noise)


CASES = [(0, 200, 3, 7, 0.3), (1, 500, 9, 7, 0.5), (2, 50, 2, 4, 0.0), (3, 1000, 5, 8, 0.8)]


@pytest.mark.parametrize("seed,n,raters,k,copy", CASES)
def test_fleiss_matches_statsmodels(seed: int, n: int, raters: int, k: int, copy: float) -> None:
    counts = rating_counts(_raters(seed, n, raters, k, copy), k)
    assert fleiss_kappa(counts) == pytest.approx(sm_fleiss(counts), abs=1e-12)
    assert count_agreement(counts, n_resamples=0).fleiss_kappa.value == pytest.approx(
        sm_fleiss(counts), abs=1e-12
    )


@pytest.mark.parametrize("seed,n,raters,k,copy", CASES)
def test_per_category_kappa_is_fleiss_of_category_vs_rest(
    seed: int, n: int, raters: int, k: int, copy: float
) -> None:
    counts = rating_counts(_raters(seed, n, raters, k, copy), k)
    ours = fleiss_kappa_per_category(counts)
    total = counts.sum(axis=1)
    for j in range(k):
        two = np.stack([counts[:, j], total - counts[:, j]], axis=1)
        if counts[:, j].sum() == 0:
            assert ours[j] is None
        else:
            assert ours[j] == pytest.approx(sm_fleiss(two), abs=1e-12)
    # Fleiss (1971): overall kappa is the p_j q_j weighted mean of the per-category kappas.
    p = counts.sum(axis=0) / counts.sum()
    w = p * (1 - p)
    vals = np.array([0.0 if v is None else v for v in ours])
    assert np.sum(w * vals) / np.sum(w) == pytest.approx(fleiss_kappa(counts), abs=1e-12)


@pytest.mark.parametrize("seed,n,raters,k,copy", CASES)
def test_krippendorff_matches_package_with_missing(
    seed: int, n: int, raters: int, k: int, copy: float
) -> None:
    r = _raters(seed, n, raters, k, copy)
    rng = np.random.default_rng(seed + 100)
    r = np.where(rng.random(r.shape) < 0.25, -1, r)
    r = r[(r >= 0).sum(axis=1) > 0]  # items rated by no one are an error for us, ignored by the package
    ref = krippendorff.alpha(
        reliability_data=np.where(r < 0, np.nan, r).T.astype(float), level_of_measurement="nominal"
    )
    assert krippendorff_alpha(rating_counts(r, k)) == pytest.approx(ref, abs=1e-10)
    # the value_counts form of the package, too
    assert krippendorff_alpha(rating_counts(r, k)) == pytest.approx(
        krippendorff.alpha(value_counts=rating_counts(r, k), level_of_measurement="nominal"), abs=1e-10
    )


def test_unequal_fleiss_matches_explicit_per_item_formula() -> None:
    """With varying numbers of ratings: P_i per item, p_j pooled over all ratings (see docs/agreement.md)."""
    r = _raters(7, 300, 6, 5, 0.4)
    rng = np.random.default_rng(8)
    r = np.where(rng.random(r.shape) < 0.3, -1, r)
    r = r[(r >= 0).sum(axis=1) >= 1]
    counts = rating_counts(r, 5)
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa(counts)
    p_i, n_all, cat = [], 0, np.zeros(5)
    for row in counts:
        n = row.sum()
        if n < 2:
            continue
        p_i.append(sum(x * (x - 1) for x in row) / (n * (n - 1)))
        n_all += n
        cat += row
    pj = cat / n_all
    pe = float(np.sum(pj**2))
    expected = (np.mean(p_i) - pe) / (1 - pe)
    assert fleiss_kappa(counts, allow_unequal=True) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed,n,raters,k,copy", CASES)
def test_cohen_matches_sklearn(seed: int, n: int, raters: int, k: int, copy: float) -> None:
    r = _raters(seed, n, raters, k, copy)
    m = cohen_kappa_matrix(r, k)
    for i in range(raters):
        for j in range(i + 1, raters):
            ref = cohen_kappa_score(r[:, i], r[:, j])
            assert m[i, j] == pytest.approx(ref, abs=1e-12)
            assert cohen_kappa_estimate(r[:, i], r[:, j], k, n_resamples=0).value == pytest.approx(
                ref, abs=1e-12
            )


def test_cohen_with_missing_uses_items_both_rated() -> None:
    r = _raters(4, 400, 2, 6, 0.5)
    r[::7, 0] = -1
    r[::5, 1] = -1
    both = (r[:, 0] >= 0) & (r[:, 1] >= 0)
    ref = cohen_kappa_score(r[both, 0], r[both, 1])
    assert cohen_kappa(r[:, 0], r[:, 1], 6) == pytest.approx(ref, abs=1e-12)
    assert cohen_kappa_estimate(r[:, 0], r[:, 1], 6).value == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("seed,n,raters,k,copy", CASES)
def test_shares_and_percent_agreement_against_direct_counting(
    seed: int, n: int, raters: int, k: int, copy: float
) -> None:
    r = _raters(seed, n, raters, k, copy)
    counts = rating_counts(r, k)
    top = np.array([np.bincount(row, minlength=k).max() for row in r])
    shares = agreement_shares(counts)
    assert shares["share_all"] == pytest.approx(np.mean(top == raters))
    assert shares["share_majority"] == pytest.approx(np.mean(top > raters / 2))
    assert shares["share_no_majority"] == pytest.approx(np.mean(top <= raters / 2))
    pairs = [(i, j) for i in range(raters) for j in range(i + 1, raters)]
    direct = np.mean([np.mean([row[i] == row[j] for i, j in pairs]) for row in r])
    assert percent_agreement(r) == pytest.approx(direct, abs=1e-12)
    assert count_agreement(counts, n_resamples=0).percent_agreement.value == pytest.approx(direct, abs=1e-12)


def test_perfect_agreement_and_chance() -> None:
    r = np.repeat(np.arange(6)[:, None] % 3, 4, axis=1)
    c = rating_counts(r, 3)
    assert fleiss_kappa(c) == pytest.approx(1.0)
    assert krippendorff_alpha(c) == pytest.approx(1.0)
    assert agreement_shares(c)["share_all"] == 1.0
    big = rating_counts(_raters(9, 20000, 5, 4, 0.0), 4)
    assert abs(fleiss_kappa(big)) < 0.02  # independent raters: kappa near 0
