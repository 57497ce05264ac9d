"""Split-conformal sets against MAPIE (an independent implementation) on the same scores, coverage on synthetic
data whose true label distribution is known, and the refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mapie.classification import SplitConformalClassifier
from mapie.utils import _compute_classification_quantile
from sklearn.base import BaseEstimator, ClassifierMixin

from ferbench.metrics.conformal import (
    ConformalCalibration,
    ConformalError,
    calibrate,
    check_confidence_level,
    conformal_quantile,
    min_calibration_size,
    prediction_sets,
)

LABELS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")


class StoredScores(ClassifierMixin, BaseEstimator):
    """A "fitted" classifier whose input *is* its probability table: MAPIE then sees exactly our scores."""

    def __init__(self, k: int = 7) -> None:
        self.k = k

    def fit(self, X: np.ndarray, y: np.ndarray) -> StoredScores:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(self.k)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X).argmax(axis=1)


class ZeroUniform(np.random.RandomState):
    """MAPIE always randomises APS calibration scores (``score - u * p_y``); u = 0 gives the plain score."""

    def uniform(self, low=0.0, high=1.0, size=None):  # type: ignore[override]
        return np.zeros(size)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _model_like(n: int, seed: int, k: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A known world: the true label is *drawn from* p, so p is perfectly calibrated."""
    rng = np.random.default_rng(seed)
    p = _softmax(rng.normal(size=(n, k)) * rng.uniform(0.5, 3.0, size=(n, 1)))
    y = (p.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    return p, y


def _mapie(cal_p, cal_y, test_p, level, score, include_last_label=None, random_state=None):
    m = SplitConformalClassifier(
        StoredScores(cal_p.shape[1]),
        confidence_level=level,
        conformity_score=score,
        prefit=True,
        random_state=random_state,
    )
    m.conformalize(cal_p, cal_y)
    params = None if include_last_label is None else {"include_last_label": include_last_label}
    _, sets = m.predict_set(test_p, conformity_score_params=params)
    return m, sets[:, :, 0]


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95])
@pytest.mark.parametrize("seed", [0, 1])
def test_lac_threshold_and_sets_equal_mapie(level, seed):
    cal_p, cal_y = _model_like(500, seed)
    test_p, _ = _model_like(400, seed + 100)
    ours = calibrate(cal_p, cal_y, LABELS, method="lac", confidence_level=level)
    m, sets = _mapie(cal_p, cal_y, test_p, level, "lac")
    q = float(np.ravel(m._mapie_classifier.conformity_score_function_.quantiles_)[0])
    assert ours.thresholds[0] == q
    assert np.array_equal(ours.predict_sets(test_p), sets)


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95])
def test_aps_non_randomised_threshold_and_sets_equal_mapie(level):
    cal_p, cal_y = _model_like(600, 3)
    test_p, _ = _model_like(400, 4)
    # a model lacking two labels (exact zeros, as the restricted label rule gives) and tied vote shares
    test_p[:50, 5:] = 0.0
    test_p[:50] /= test_p[:50].sum(axis=1, keepdims=True)
    test_p[50:80] = np.array([0.4, 0.2, 0.2, 0.2, 0, 0, 0])
    ours = calibrate(cal_p, cal_y, LABELS, method="aps", confidence_level=level)
    m, sets = _mapie(cal_p, cal_y, test_p, level, "aps", include_last_label=False, random_state=ZeroUniform())
    q = float(np.ravel(m._mapie_classifier.conformity_score_function_.quantiles_)[0])
    assert ours.thresholds[0] == pytest.approx(q, abs=1e-15)
    assert np.array_equal(ours.predict_sets(test_p), sets)
    # with MAPIE's default include_last_label=True the sets would be larger: the option matters
    _, sets_default = _mapie(cal_p, cal_y, test_p, level, "aps", random_state=ZeroUniform())
    assert sets_default.sum() > sets.sum()


@pytest.mark.filterwarnings("ignore:WARNING. your conformalization dataset has less labels")
def test_class_conditional_thresholds_equal_mapie_per_label():
    cal_p, cal_y = _model_like(1400, 5)
    test_p, _ = _model_like(300, 6)
    ours = calibrate(cal_p, cal_y, LABELS, method="lac", confidence_level=0.9, mondrian=True)
    for j in range(len(LABELS)):
        m, _ = _mapie(cal_p[cal_y == j], cal_y[cal_y == j], test_p, 0.9, "lac")
        q = float(np.ravel(m._mapie_classifier.conformity_score_function_.quantiles_)[0])
        assert ours.thresholds[j] == q
    sets = ours.predict_sets(test_p)
    assert np.array_equal(sets, 1.0 - test_p <= np.array(ours.thresholds)[None, :] + 1e-8)


def test_refused_exactly_where_mapies_quantile_does_not_exist():
    rng = np.random.default_rng(0)
    for level in (0.5, 0.8, 0.9, 0.95, 0.99, 0.7, 0.85):
        for n in range(1, 120):
            s = rng.uniform(size=(n, 1))
            try:
                _compute_classification_quantile(s, np.array([1 - level]))
                exists = True
            except ValueError:
                exists = False
            if exists:
                assert conformal_quantile(s, level) == float(
                    _compute_classification_quantile(s, np.array([1 - level]))[0]
                )
            else:
                with pytest.raises(ConformalError, match="needs at least"):
                    conformal_quantile(s, level)
            assert exists == (n >= min_calibration_size(level))


@pytest.mark.parametrize(("method", "randomized"), [("lac", False), ("lac", True), ("aps", False),
                                                    ("aps", True), ("raps", False), ("raps", True)])  # fmt: skip
def test_coverage_holds_on_data_with_a_known_distribution(method, randomized):
    # 200 repetitions of a 500-face calibration split and a 500-face test split: mean coverage is at least
    # the level (exactly the level for randomised sets: within 3 standard errors of it)
    rng = np.random.default_rng(42)
    covs, sizes = [], []
    for rep in range(200):
        cal_p, cal_y = _model_like(500, 1000 + rep)
        test_p, test_y = _model_like(500, 5000 + rep)
        c = calibrate(
            cal_p, cal_y, LABELS, method=method, confidence_level=0.9, randomized=randomized, rng=rng
        )
        sets = c.predict_sets(test_p, rng=rng)
        covs.append(sets[np.arange(500), test_y].mean())
        sizes.append(sets.sum(axis=1).mean())
    mean, se = float(np.mean(covs)), float(np.std(covs) / np.sqrt(len(covs)))
    assert mean >= 0.9 - 3 * se
    if randomized or method == "lac":
        assert mean <= 0.9 + 1 / 501 + 3 * se  # the guarantee's upper end: tight, not just conservative
    assert 1.0 < float(np.mean(sizes)) < 7.0


def test_randomised_lac_is_exact_where_ties_make_plain_lac_cover_everything():
    # 2 of 7 labels lacking (their faces get score 1 exactly, > 10 % of faces): plain LAC's threshold is 1 and
    # every set holds every label; the smoothed p-value brings coverage back to the level, and its
    # interval (calibration and evaluated faces resampled) holds the level
    from ferbench.metrics.conformal import procedure_interval

    covs_plain, covs_rand, hits = [], [], 0
    rng = np.random.default_rng(8)
    reps = 60
    for rep in range(reps):
        cal_p, cal_y = _tied_world(500, 700 + rep)
        test_p, test_y = _tied_world(500, 800 + rep)
        plain = calibrate(cal_p, cal_y, LABELS, method="lac", confidence_level=0.9)
        rand = calibrate(cal_p, cal_y, LABELS, method="lac", confidence_level=0.9, randomized=True)
        draws = rand.draws(500, rng)
        sets = rand.sets(test_p, draws)
        covs_plain.append(plain.predict_sets(test_p)[np.arange(500), test_y].mean())
        covs_rand.append(sets[np.arange(500), test_y].mean())
        sc = rand.label_scores(test_p, draws)[np.arange(500), test_y]
        proc = procedure_interval(rand, None, 500, true_scores=sc, tie_draws=draws[:, 1], n_resamples=200,
                                  seed=rep)  # fmt: skip
        hits += proc["ci_low"] <= 0.9 <= proc["ci_high"]
    assert np.mean(covs_plain) > 0.99
    se = np.std(covs_rand) / np.sqrt(reps)
    assert abs(np.mean(covs_rand) - 0.9) < 3 * se + 1e-3
    assert hits / reps >= 0.85


def test_randomised_sets_may_be_empty_non_randomised_aps_never():
    cal_p, cal_y = _model_like(800, 11)
    test_p, _ = _model_like(2000, 12)
    rng = np.random.default_rng(0)
    r = calibrate(cal_p, cal_y, LABELS, method="aps", confidence_level=0.8, randomized=True, rng=rng)
    nr = calibrate(cal_p, cal_y, LABELS, method="aps", confidence_level=0.8)
    assert (r.predict_sets(test_p, rng=rng).sum(axis=1) == 0).any()
    assert (nr.predict_sets(test_p).sum(axis=1) >= 1).all()


def test_class_conditional_coverage_holds_for_a_rare_label():
    # label 6 is rare and the model is bad at it: marginal sets under-cover it, class-conditional ones do not
    rng = np.random.default_rng(7)
    cov_m, cov_c = [], []
    for rep in range(60):
        p, y = _model_like(3000, 200 + rep)
        wrong = (y == 6) & (rng.uniform(size=len(y)) < 0.9)
        p[wrong, 6] *= 0.05
        p /= p.sum(axis=1, keepdims=True)
        cal, test = slice(0, 1500), slice(1500, 3000)
        marg = calibrate(p[cal], y[cal], LABELS, method="lac", confidence_level=0.9)
        cond = calibrate(p[cal], y[cal], LABELS, method="lac", confidence_level=0.9, mondrian=True)
        sel = y[test] == 6
        for c, acc in ((marg, cov_m), (cond, cov_c)):
            acc.append(c.predict_sets(p[test][sel])[:, 6].mean())
    assert np.mean(cov_c) >= 0.87
    assert np.mean(cov_m) < np.mean(cov_c) - 0.1


def test_bad_input_is_refused_with_a_clear_message():
    p, y = _model_like(300, 0)
    for bad in (0, 1, 1.2, -0.1, "x"):
        with pytest.raises(ConformalError, match="outside|not a number"):
            check_confidence_level(bad)
    with pytest.raises(ConformalError, match="no face labelled disgust"):
        calibrate(p[y != 5], y[y != 5], LABELS, method="lac", confidence_level=0.9)
    two = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    with pytest.raises(ConformalError, match="has 5 face.*needs at least 9"):
        calibrate(two, np.array([0, 1, 0, 1, 1]), LABELS[:2], confidence_level=0.9)
    # one rare label too small for its own class-conditional threshold
    few = np.r_[np.flatnonzero(y != 6), np.flatnonzero(y == 6)[:3]]
    with pytest.raises(ConformalError, match="label 'anger'.*has 3 face"):
        calibrate(p[few], y[few], LABELS, method="lac", confidence_level=0.9, mondrian=True)
    with pytest.raises(ConformalError, match="unknown conformal method"):
        calibrate(p, y, LABELS, method="topk")


def test_calibration_round_trips_through_json():
    p, y = _model_like(400, 9)
    for kw in ({"method": "lac"}, {"method": "raps"}, {"method": "aps", "mondrian": True}):
        c = calibrate(p, y, LABELS, confidence_level=0.85, **kw)  # type: ignore[arg-type]
        back = ConformalCalibration.from_dict(json.loads(json.dumps(c.to_dict())))
        assert back == c
        assert np.array_equal(back.predict_sets(p), prediction_sets(p, c.thresholds, c.method))
    # randomised rules travel with their tie windows only, and give the same sets for the same draws
    for kw in ({"method": "lac"}, {"method": "raps"}, {"method": "lac", "mondrian": True}):
        c = calibrate(p, y, LABELS, confidence_level=0.85, randomized=True, rng=np.random.default_rng(1), **kw)  # type: ignore[arg-type]  # fmt: skip
        back = ConformalCalibration.from_dict(json.loads(json.dumps(c.to_dict())))
        assert back == c and back.windows == c.windows
        draws = c.draws(len(p), np.random.default_rng(2))
        assert np.array_equal(back.sets(p, draws), c.sets(p, draws))


@pytest.mark.parametrize("method", ["aps"])
@pytest.mark.parametrize("level", [0.8, 0.9])
def test_randomised_aps_equals_mapie_given_the_same_uniform_draws(method, level):
    # MAPIE draws u from RandomState(seed) once for the calibration scores and once for the sets; handing ours
    # the same streams gives the same threshold, and the same (possibly empty) sets except where the tie-break
    # acts: labels whose randomised score lies between the two calibration scores around the threshold
    cal_p, cal_y = _model_like(700, 21)
    test_p, _ = _model_like(500, 22)
    ours = calibrate(cal_p, cal_y, LABELS, method=method, confidence_level=level, randomized=True,
                     rng=np.random.RandomState(5))  # type: ignore[arg-type]  # fmt: skip
    m, sets = _mapie(cal_p, cal_y, test_p, level, method, include_last_label="randomized", random_state=5)
    q = float(np.ravel(m._mapie_classifier.conformity_score_function_.quantiles_)[0])
    assert ours.thresholds[0] == pytest.approx(q, abs=1e-15)
    draws = ours.draws(len(test_p), np.random.RandomState(5))  # type: ignore[arg-type]
    mine = ours.sets(test_p, draws)
    srt = np.sort(np.asarray(ours.scores))
    k = int(np.ceil((len(srt) + 1) * level))
    band = (ours.label_scores(test_p, draws) >= srt[k - 2]) & (ours.label_scores(test_p, draws) <= srt[k - 1])
    assert np.array_equal(mine[~band], sets[~band])
    assert (mine != sets).sum() <= band.sum() < 0.01 * mine.size
    assert (mine.sum(axis=1) == 0).any()  # randomised sets can be empty, in both


def _tied_world(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A model that lacks two labels (exact zeros) on faces that carry them, and gives tied vote shares."""
    p, y = _model_like(n, seed)
    p[:, 5:] = 0.0
    p /= p.sum(axis=1, keepdims=True)
    votes = np.random.default_rng(seed).multinomial(9, [0.5, 0.2, 0.1, 0.1, 0.1, 0, 0], size=n // 4) / 9
    p[: n // 4] = votes
    return p, y


def _smoothed_oracle(cal_scores, scores, v, level):
    """Vovk's smoothed p-value by brute force: (#{cal > s} + v (#{cal = s} + 1)) / (n + 1) > 1 - level."""
    c = np.asarray(cal_scores)[None, None, :]
    s = scores[:, :, None]
    greater, equal = (c > s).sum(axis=2), (c == s).sum(axis=2)
    return (greater + v[:, None] * (equal + 1)) / (c.shape[2] + 1) > 1 - level


@pytest.mark.parametrize("method", ["lac", "aps", "raps"])
@pytest.mark.parametrize("level", [0.8, 0.9])
def test_randomised_sets_equal_brute_force_smoothed_p_values_with_ties(method, level):
    cal_p, cal_y = _tied_world(600, 31)
    test_p, _ = _tied_world(400, 32)
    c = calibrate(cal_p, cal_y, LABELS, method=method, confidence_level=level, randomized=True,
                  rng=np.random.default_rng(3))  # fmt: skip
    assert len(c.windows[0].values) < 20  # only the scores around the threshold travel
    draws = c.draws(len(test_p), np.random.default_rng(4))
    want = _smoothed_oracle(c.scores, c.label_scores(test_p, draws), draws[:, 1], level)
    assert np.array_equal(c.sets(test_p, draws), want)
    # class-conditional: the p-value among the calibration scores of that label
    cm = calibrate(cal_p, cal_y, LABELS, method="lac", confidence_level=level, randomized=True, mondrian=True)
    sc = cm.label_scores(test_p, draws)
    want_m = np.column_stack([
        _smoothed_oracle(np.asarray(cm.scores)[cal_y == j], sc[:, j : j + 1], draws[:, 1], level)[:, 0]
        for j in range(len(LABELS))
    ])  # fmt: skip
    assert np.array_equal(cm.sets(test_p, draws), want_m)


def test_procedure_interval_holds_the_level_about_as_often_as_it_says():
    # known world, 120 repetitions: the interval that refits the threshold on resampled calibration faces holds
    # 0.9 in about 95 % of them; the one over evaluated faces alone is too narrow and holds it less often
    from ferbench.metrics.conformal import procedure_interval
    from ferbench.metrics.humans import mean_estimate

    hits_proc = hits_test = 0
    widths: list[float] = []
    reps = 120
    for rep in range(reps):
        cal_p, cal_y = _model_like(400, 9000 + rep)
        test_p, test_y = _model_like(400, 9500 + rep)
        c = calibrate(cal_p, cal_y, LABELS, method="lac", confidence_level=0.9)
        covered = c.predict_sets(test_p)[np.arange(400), test_y]

        def at(q, test_p=test_p, test_y=test_y, c=c):
            return c.sets_at(test_p, q)[np.arange(400), test_y]

        proc = procedure_interval(c, at, 400, n_resamples=300, seed=rep)
        test = mean_estimate(covered.astype(float), n_resamples=300, seed=rep)
        hits_proc += proc["ci_low"] <= 0.9 <= proc["ci_high"]
        hits_test += test.ci_low <= 0.9 <= test.ci_high
        widths.append((proc["ci_high"] - proc["ci_low"]) / (test.ci_high - test.ci_low))
    assert hits_proc / reps >= 0.88
    assert hits_test < hits_proc
    assert np.mean(widths) > 1.1


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_covered_counts_per_resample_equal_brute_force_p_values_of_each_multiset(level):
    # the procedure interval counts covered faces per calibration resample without a p-value per face; each
    # count must equal the brute-force smoothed p-values against that resample's multiset of scores, with
    # ties between calibration and evaluated scores (a lacking label's exact 1, tied vote shares)
    from ferbench.metrics.conformal import label_scores, smoothed_covered_counts

    cal_p, cal_y = _tied_world(300, 41)
    test_p, test_y = _tied_world(250, 42)
    cal_s = label_scores(cal_p, "lac")[np.arange(300), cal_y]
    test_s = label_scores(test_p, "lac")[np.arange(250), test_y]
    assert np.isin(test_s, cal_s).mean() > 0.2  # many evaluated scores tie with calibration scores
    vals, inv = np.unique(cal_s, return_inverse=True)
    rng = np.random.default_rng(5)
    v = rng.uniform(size=250)
    counts = np.stack([np.bincount(inv[rng.integers(0, 300, 300)], minlength=len(vals)) for _ in range(40)])
    got = smoothed_covered_counts(vals, counts, test_s, v, level)
    want = [_smoothed_oracle(np.repeat(vals, row), test_s[:, None], v, level)[:, 0].sum() for row in counts]
    assert got.tolist() == want
    assert len(set(want)) > 5  # the resamples do move the count


def test_procedure_bound_monte_carlo_error_brackets_the_exact_quantile():
    # mc_error is a 95 % band on where a B-resample percentile bound sits around the exact one: drawing B
    # normal "resamples" many times, the exact 2.5 % and 97.5 % points (∓1.95996) are within it about 95 % of
    # the time, and the band narrows as 1 / sqrt(B)
    from ferbench.metrics.conformal import _bound_mc_error

    rng = np.random.default_rng(0)
    hits = np.zeros(2)
    errs = {1000: [], 4000: []}
    for _ in range(300):
        for b in errs:
            x = rng.standard_normal(b)
            err = _bound_mc_error(x, 0.95)
            errs[b].append(err)
            if b == 1000:
                hits += np.abs(np.quantile(x, [0.025, 0.975]) - [-1.959964, 1.959964]) <= err
    assert np.all(hits / 300 >= 0.9) and np.all(hits / 300 <= 0.995)
    assert 1.7 < np.mean(errs[1000]) / np.mean(errs[4000]) < 2.3


def _official(cal_p, cal_y, test_p, test_y, **kw):
    c = calibrate(cal_p, cal_y, LABELS, rng=np.random.default_rng(1), **kw)
    sets = c.predict_sets(test_p, rng=np.random.default_rng(2) if c.randomized else None)
    return float(sets[np.arange(len(test_y)), test_y].mean())


def test_resplits_centre_on_the_level_with_the_spread_exchangeability_predicts():
    # exchangeable faces: re-splits of the pooled faces cover the level on average, with the standard
    # deviation that split conformal's coverage has, sqrt(a(1 - a)(1/n + 1/m)) (calibration and evaluated
    # parts each add their binomial-like share), and the given split is an ordinary one among them
    from ferbench.metrics.conformal import resplit_coverage

    cal_p, cal_y = _model_like(1500, 61)
    test_p, test_y = _model_like(1500, 62)
    kw = {"method": "lac", "confidence_level": 0.9, "randomized": True}
    off = _official(cal_p, cal_y, test_p, test_y, **kw)
    r = resplit_coverage(cal_p, cal_y, test_p, test_y, LABELS, official=off, n_resplits=200, **kw)
    theory = np.sqrt(0.09 * (1 / 1500 + 1 / 1500))
    assert r["n_resplits"] == 200 and r["n_refused"] == 0
    assert abs(r["mean"] - 0.9) < 3 * r["sd"] / np.sqrt(200)
    assert 0.75 * theory < r["sd"] < 1.25 * theory
    assert 0.05 < r["share_at_or_below"] < 0.95
    assert r == resplit_coverage(cal_p, cal_y, test_p, test_y, LABELS, official=off, n_resplits=200, **kw)


def test_resplits_expose_a_split_whose_evaluated_faces_differ():
    # evaluated faces from another world (the model gives two labels an exact 0 on faces that carry them):
    # the given split under-covers, the re-splits of the pooled faces centre on the level, and the given split
    # sits below every re-split
    from ferbench.metrics.conformal import resplit_coverage

    cal_p, cal_y = _model_like(1200, 63)
    test_p, test_y = _tied_world(1200, 64)
    kw = {"method": "lac", "confidence_level": 0.9, "randomized": True}
    off = _official(cal_p, cal_y, test_p, test_y, **kw)
    r = resplit_coverage(cal_p, cal_y, test_p, test_y, LABELS, official=off, **kw)
    assert off < 0.87
    assert abs(r["mean"] - 0.9) < 0.01
    assert r["share_at_or_below"] == 0.0 and r["min"] > off


def test_resplits_count_the_splits_a_class_conditional_rule_refuses():
    # 12 faces of one label in the pool: most re-splits leave fewer than the 9 a class-conditional 90 %
    # threshold needs in the calibration part; they are counted, not averaged
    from ferbench.metrics.conformal import resplit_coverage

    cal_p, cal_y = _model_like(400, 65)
    test_p, test_y = _model_like(400, 66)
    rare = np.flatnonzero(np.concatenate([cal_y, test_y]) == 6)
    cal_y, test_y = cal_y.copy(), test_y.copy()
    keep = set(rare[:12].tolist())
    for i in rare:
        if i not in keep:
            (cal_y if i < 400 else test_y)[i % 400] = 0
    kw = {"method": "lac", "confidence_level": 0.9, "mondrian": True}
    r = resplit_coverage(cal_p, cal_y, test_p, test_y, LABELS, official=0.9, n_resplits=30, **kw)
    assert r["n_refused"] > 0 and r["n_resplits"] + r["n_refused"] == 30
