"""Affect view: ICC against Shrout & Fleiss's worked example and an independent statsmodels ANOVA, Lin's
concordance against its Pearson-times-bias form, expected valence/arousal, and the section on real outputs
(with and without dataset valence/arousal columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from _uncertainty_data import real_run
from scipy.stats import pearsonr
from statsmodels.stats.anova import anova_lm

from ferbench.analysis import evaluate
from ferbench.engine import PredictionStore
from ferbench.metrics.affect import VA_COORDINATES, coordinate_matrix, expected_va, icc, lin_ccc

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; ICC(2,1) = .29, ICC(3,1) = .71.
SF = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)


def test_icc_reproduces_shrout_fleiss():
    r = icc(SF)
    assert r["icc_a1"] == pytest.approx(0.29, abs=0.005)
    assert r["icc_c1"] == pytest.approx(0.71, abs=0.005)


def _icc_statsmodels(x: np.ndarray) -> tuple[float, float]:
    n, k = x.shape
    df = pd.DataFrame(
        {
            "y": x.ravel(),
            "item": np.repeat(np.arange(n), k).astype(str),
            "rater": np.tile(np.arange(k), n).astype(str),
        }
    )
    a = anova_lm(smf.ols("y ~ C(item) + C(rater)", df).fit())
    msr, msc, mse = a.loc["C(item)", "mean_sq"], a.loc["C(rater)", "mean_sq"], a.loc["Residual", "mean_sq"]
    return (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n), (msr - mse) / (msr + (k - 1) * mse)


def test_icc_matches_an_independent_anova():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(40, 1))
    x = target + rng.normal(scale=0.5, size=(40, 3)) + np.array([0.0, 0.3, -0.2])
    a1, c1 = _icc_statsmodels(x)
    r = icc(x)
    assert r["icc_a1"] == pytest.approx(a1, rel=1e-9) and r["icc_c1"] == pytest.approx(c1, rel=1e-9)
    assert r["icc_a1"] < r["icc_c1"]  # rater offsets cost absolute agreement only


def test_lin_ccc():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = 0.8 * x + 0.3 + rng.normal(scale=0.4, size=200)
    # Lin's identity: CCC = r * C_b, with C_b = 2 / (v + 1/v + u^2), v = s_x/s_y, u = (mx-my)/sqrt(s_x s_y)
    r = pearsonr(x, y).statistic
    sx, sy = x.std(), y.std()
    v, u = sx / sy, (x.mean() - y.mean()) / np.sqrt(sx * sy)
    assert lin_ccc(x, y) == pytest.approx(r * 2 / (v + 1 / v + u**2), rel=1e-9)
    assert lin_ccc(x, x) == pytest.approx(1.0)
    assert lin_ccc(x - x.mean(), -(x - x.mean())) == pytest.approx(-1.0)
    assert lin_ccc(x, x + 1) < 1.0  # a shift costs concordance, unlike correlation
    assert lin_ccc(np.ones(5), np.ones(5)) is None and lin_ccc(x[:1], y[:1]) is None


def test_expected_va():
    labels = ["neutral", "happy", "sad"]
    p = np.array([[0, 1, 0], [0.5, 0, 0.5]], float)
    va = expected_va(p, labels)
    assert va[0] == pytest.approx(VA_COORDINATES["happy"])
    assert va[1] == pytest.approx(np.mean([VA_COORDINATES["neutral"], VA_COORDINATES["sad"]], axis=0))
    assert coordinate_matrix(labels).shape == (3, 2)
    # the happy coordinate lies in AffectNet's predefined 'happy' region: valence (0, 1], arousal [-0.2, 0.5]
    v, a = VA_COORDINATES["happy"]
    assert 0 < v <= 1 and -0.2 <= a <= 0.5
    assert all(-1 <= c <= 1 for xy in VA_COORDINATES.values() for c in xy)


@pytest.fixture(scope="module")
def run(fer2013_root, model_store):
    return real_run(fer2013_root, model_store)


def test_real_affect_section(run):
    m = run.metrics
    a = m["affect"]
    ev = run.evaluated
    assert set(a["coordinates"]) == set(m["labels"]) and "Russell (1980)" in a["source"]
    assert a["dataset_ratings"] is None  # FER2013 has no valence/arousal columns
    table = np.stack([expected_va(ev.proba[:, j], ev.labels) for j in range(len(ev.model_ids))], axis=1)
    for d, dim in enumerate(("valence", "arousal")):
        g = a["agreement"][dim]
        assert g["icc_a1"] == pytest.approx(_icc_statsmodels(table[:, :, d])[0], rel=1e-9)
        assert 0 < g["icc_a1"] <= 1 and g["n"] == 252 and g["k"] == len(ev.model_ids)
        mid0, mid1 = ev.model_ids[:2]
        assert g["lin_ccc"][mid0][mid1] == pytest.approx(lin_ccc(table[:, 0, d], table[:, 1, d]))
    fer = a["models"]["fer-mini-xception"]
    assert fer["mean_valence"] == pytest.approx(table[:, 0, 0].mean())


def test_dataset_valence_arousal_columns_are_compared(run):
    """A dataset with valence/arousal columns: here set to one model's own expected values plus a shift,
    so that model's Pearson r is 1 and its CCC is below 1 by the known amount."""
    ev = run.evaluated
    ids = [c.id for c in run.cards]
    va = expected_va(ev.proba[:, 0], ev.labels)
    samples = run.dataset.samples.copy()
    samples["valence"], samples["arousal"] = va[:, 0], va[:, 1] + 0.2
    samples.loc[samples.index[:3], "valence"] = np.nan  # unrated items are left out per dimension
    m, _ = evaluate(PredictionStore(run.out).read(ids), samples, run.cards, run.dataset.labels)
    vs = m["affect"]["models"][ids[0]]["vs_dataset"]
    assert vs["valence"]["n"] == 249 and vs["valence"]["ccc"] == pytest.approx(1.0)
    assert vs["arousal"]["pearson"] == pytest.approx(1.0)
    assert vs["arousal"]["rmse"] == pytest.approx(0.2)
    assert vs["arousal"]["ccc"] == pytest.approx(lin_ccc(va[:, 1], va[:, 1] + 0.2))
    assert m["affect"]["dataset_ratings"] is not None


def test_native_note_names_models_with_their_own_valence_arousal(run):
    import dataclasses

    cards = [dataclasses.replace(run.cards[0], extra_outputs={"valence": 7, "arousal": 8}), *run.cards[1:]]
    ids = [c.id for c in cards]
    m, _ = evaluate(PredictionStore(run.out).read(ids), run.dataset.samples, cards, run.dataset.labels)
    assert m["affect"]["native"].startswith(ids[0]) and "does not keep" in m["affect"]["native"]
    assert "no model in this run" in run.metrics["affect"]["native"]
