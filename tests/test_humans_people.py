"""People vs models statistics against independent computations: statsmodels' Fleiss' kappa on the count
tables, scipy's Spearman, and brute-force leave-one-vote-out on hand-made vote tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from ferbench.metrics.agreement import rating_counts
from ferbench.metrics.calibration import reliability_bins
from ferbench.metrics.levels import LEVELS
from ferbench.metrics.people import (
    _midranks,
    _weighted_pearson,
    agreement_cells,
    human_level,
    leave_one_out_plurality,
    plurality_hits,
    same_faces_kappa,
    spearman_estimate,
)

LABELS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")


def _votes(rng: np.random.Generator, n: int, n_votes: int = 10, k: int = 8) -> np.ndarray:
    """Votes that lean towards one label per face, as crowd votes do (so kappa is far from 0)."""
    p = rng.dirichlet(np.full(k, 0.3), size=n)
    return np.stack([rng.multinomial(n_votes, pi) for pi in p])


def _brute_loo(counts: np.ndarray, strict: bool = False) -> tuple[float, float]:
    """Each voter one by one: drop the vote, find the others' top labels, score the vote (ties split)."""
    num = den = 0.0
    for row in counts:
        voters = [j for j, c in enumerate(row) for _ in range(c)]
        for i, mine in enumerate(voters):
            rest = voters[:i] + voters[i + 1 :]
            if not rest:
                continue
            tally = {lab: rest.count(lab) for lab in set(rest)}
            best = max(tally.values())
            tops = [lab for lab, c in tally.items() if c == best]
            den += 1
            if mine in tops and not (strict and len(tops) > 1):
                num += 1 / len(tops)
    return num, den


def test_same_faces_kappa_matches_statsmodels_at_every_level() -> None:
    rng = np.random.default_rng(1)
    votes = _votes(rng, 300)
    truth = votes.argmax(axis=1)
    models = np.stack(
        [np.where(rng.random(300) < 0.6, truth, rng.integers(0, 8, 300)) for _ in range(5)], axis=1
    )
    res = same_faces_kappa(votes, models, LABELS, n_resamples=200, seed=3)
    mcounts = rating_counts(models, 8)
    assert res["n_faces"] == 300 and res["n_models"] == 5
    assert res["humans"]["value"] == pytest.approx(sm_fleiss(votes), abs=1e-12)
    assert res["models"]["value"] == pytest.approx(sm_fleiss(mcounts), abs=1e-12)
    for lv in LEVELS:
        if lv.key not in res["levels"]:
            continue
        lut = lv.index_map(LABELS)
        n_c = len(lv.classes(LABELS))
        got = res["levels"][lv.key]
        for who, c in (("humans", votes), ("models", mcounts)):
            coarse = np.stack([c[:, lut == j].sum(axis=1) for j in range(n_c)], axis=1)
            assert got[who]["value"] == pytest.approx(sm_fleiss(coarse), abs=1e-12)
    assert set(res["levels"]) == {"fine", "polarity", "emotional_vs_neutral"}
    for j, lab in enumerate(LABELS):  # per label: kappa of the (this label, any other) table
        two = np.stack([votes[:, j], votes.sum(axis=1) - votes[:, j]], axis=1)
        assert res["levels"]["fine"]["per_class"][lab]["humans"]["value"] == pytest.approx(sm_fleiss(two))
    d = res["levels"]["fine"]["difference"]
    assert d["value"] == pytest.approx(res["humans"]["value"] - res["models"]["value"])
    for e in (res["humans"], res["models"], d):
        assert e["ci_low"] < e["value"] < e["ci_high"]
    again = same_faces_kappa(votes, models, LABELS, n_resamples=200, seed=3)
    assert again == res  # keyed generators: the same seed gives the same intervals
    assert same_faces_kappa(votes, models, LABELS, n_resamples=200, seed=4)["humans"] != res["humans"]


def test_same_faces_kappa_refuses_faces_it_cannot_use() -> None:
    with pytest.raises(ValueError, match="two or more votes"):
        same_faces_kappa(np.array([[1, 0], [2, 0]]), np.array([[0, 1], [0, 0]]), ("a", "b"))
    with pytest.raises(ValueError, match="label from every model"):
        same_faces_kappa(np.array([[1, 1], [2, 0]]), np.array([[0, -1], [0, 0]]), ("a", "b"))
    empty = same_faces_kappa(np.zeros((0, 2), int), np.zeros((0, 3), int), ("a", "b"))
    assert empty["n_faces"] == 0 and empty["humans"]["value"] is None


@pytest.mark.parametrize("strict", [False, True])
def test_leave_one_out_is_exact_on_hand_made_tables(strict: bool) -> None:
    hand = np.array(
        [
            [10, 0, 0],  # all agree: every vote scores 1
            [5, 5, 0],  # a 5-5 split: removing one leaves 4 v 5, the vote loses
            [4, 4, 2],  # a vote for a top label faces 3 v 4 and loses; a '2' vote faces a 4-4 tie
            [1, 1, 1],  # each vote faces a 1-1 tie of the others, and is not in it
            [2, 1, 0],  # a '2' vote faces 1-1 (tie, it is in it): 1/2
            [1, 0, 0],  # a single vote: nothing to compare with, not scored
            [0, 0, 0],  # no votes
            [3, 2, 2],
        ]
    )
    num, den = leave_one_out_plurality(hand, strict=strict)
    for row, n, d in zip(hand, num, den, strict=True):
        bn, bd = _brute_loo(row[None], strict)
        assert (n, d) == pytest.approx((bn, bd))
    assert num[0] == 10 and num[1] == 0 and den[5] == 0 and den[6] == 0
    assert num[4] == pytest.approx(0 if strict else 2 * 0.5)
    rng = np.random.default_rng(7)
    for n_votes in (2, 3, 10):
        v = _votes(rng, 60, n_votes, 4)
        num, den = leave_one_out_plurality(v, strict=strict)
        assert (num.sum(), den.sum()) == pytest.approx(_brute_loo(v, strict))


def test_plurality_hits_split_ties_evenly() -> None:
    v = np.array([[3, 3, 1], [5, 1, 1], [0, 0, 0], [2, 2, 2]])
    pred = np.array([1, 1, 0, -1])
    got = plurality_hits(v, pred)
    assert got[0] == 0.5 and got[1] == 0.0 and np.isnan(got[2]) and np.isnan(got[3])


def test_human_level_against_brute_force() -> None:
    rng = np.random.default_rng(11)
    v = _votes(rng, 200, 10, 5)
    extra = rng.integers(0, 3, size=(200, 2))  # unknown / not-a-face voters for the strict variant
    pa = v.argmax(axis=1)
    pb = rng.integers(0, 5, 200)
    res = human_level(v, {"a": pa, "b": pb}, all_counts=np.hstack([v, extra]), n_resamples=300)
    num, den = _brute_loo(v)
    assert res["humans"]["value"] == pytest.approx(num / den)
    snum, sden = _brute_loo(np.hstack([v, extra]), strict=True)
    assert res["humans_strict_every_voter"]["value"] == pytest.approx(snum / sden)
    for mid, p in (("a", pa), ("b", pb)):
        brute = np.mean(
            [(1 / np.sum(r == r.max())) if r[q] == r.max() else 0.0 for r, q in zip(v, p, strict=True)]
        )
        assert res["models"][mid]["score"]["value"] == pytest.approx(brute)
        gap = res["models"][mid]["gap_to_humans"]
        assert gap["value"] == pytest.approx(brute - num / den)
        assert gap["ci_low"] < gap["value"] < gap["ci_high"]
    assert res["models"]["a"]["placement"] == "above" and res["models"]["b"]["placement"] == "below"
    assert res["n_faces"] == 200 and res["n_votes"] == den


def test_spearman_matches_scipy_and_resamples_are_exact() -> None:
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=400), 1)
    y = np.round(x + rng.normal(size=400))  # many ties on both sides
    est = spearman_estimate(x, y, n_resamples=400, seed=2)
    assert est.value == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert est.ci_low < est.value < est.ci_high
    # a resample with repeated items: the weighted midrank correlation equals scipy on the expanded sample
    ux = np.array([0.1, 0.1, 0.5, 0.7, 0.9])
    uy = np.array([1.0, 2.0, 2.0, 0.0, 3.0])
    for w in ([1, 2, 3, 1, 4], [0, 2, 1, 5, 1], [3, 0, 0, 2, 2]):
        wa = np.asarray(w, dtype=float)
        got = _weighted_pearson(_midranks(ux, wa), _midranks(uy, wa), wa)
        assert got == pytest.approx(spearmanr(np.repeat(ux, w), np.repeat(uy, w)).statistic, abs=1e-12)
    assert spearman_estimate([1, 2], [1, 2]).value is None
    assert spearman_estimate([1, 1, 1], [1, 2, 3]).value is None


def test_agreement_cells_threshold() -> None:
    people = np.array([[7, 3, 0], [6, 4, 0], [10, 0, 0]])
    models = rating_counts(np.array([[0] * 7 + [1, 2], [0] * 6 + [1, 1, 2], [0] * 9]), 3)
    pa, ma = agreement_cells(people, models, 0.7)
    assert pa.tolist() == [True, False, True] and ma.tolist() == [True, False, True]


def test_reliability_bins_take_shares() -> None:
    rng = np.random.default_rng(0)
    conf = rng.random(500)
    share = rng.random(500)
    bins = reliability_bins(conf, share, 10)
    df = pd.DataFrame({"b": np.clip(np.ceil(conf * 10) - 1, 0, 9), "s": share})
    means = df.groupby("b")["s"].mean()
    for b, row in enumerate(bins):
        assert row["accuracy"] == pytest.approx(means.get(float(b)))


def test_same_faces_kappa_bootstrap_is_paired() -> None:
    """Humans and models are resampled together: identical tables give a zero-width difference interval."""
    rng = np.random.default_rng(2)
    models = rng.integers(0, 3, size=(120, 4))
    res = same_faces_kappa(rating_counts(models, 3), models, ("neutral", "happy", "sad"), n_resamples=100)
    d = res["levels"]["fine"]["difference"]
    assert (
        d["value"] == pytest.approx(0)
        and d["ci_low"] == pytest.approx(0)
        and d["ci_high"] == pytest.approx(0)
    )
    assert list(itertools.islice(res["levels"], 1)) == ["fine"]
