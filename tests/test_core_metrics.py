"""Skeleton metrics cross-checked against scikit-learn and statsmodels, on random and real predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from ferbench import api
from ferbench.metrics import (
    classification_summary,
    cohen_kappa_matrix,
    fleiss_kappa,
    percent_agreement,
    rating_counts,
)

LABELS = ["neutral", "happy", "sad", "anger"]


@pytest.mark.parametrize("seed", range(5))
def test_classification_summary_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    yt = rng.choice(LABELS, 300)
    yp = np.where(rng.random(300) < 0.5, yt, rng.choice(LABELS[:3], 300))
    yp = np.where(yp == "anger", "sad", yp)  # a model that never predicts anger
    s = classification_summary(yt, yp, labels=LABELS)
    assert s["accuracy"] == pytest.approx(accuracy_score(yt, yp))
    assert s["macro_f1"] == pytest.approx(f1_score(yt, yp, labels=LABELS, average="macro", zero_division=0))
    assert s["confusion"] == confusion_matrix(yt, yp, labels=LABELS).tolist()
    assert s["per_class"]["anger"]["precision"] == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_and_cohen_match_statsmodels_and_sklearn(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 7, 500)
    ratings = np.stack(
        [np.where(rng.random(500) < 0.4 + 0.1 * j, truth, rng.integers(0, 7, 500)) for j in range(4)], axis=1
    )
    counts = rating_counts(ratings, 7)
    sm_counts, _ = aggregate_raters(ratings, n_cat=7)
    assert np.array_equal(counts, sm_counts)
    assert fleiss_kappa(counts) == pytest.approx(sm_fleiss(sm_counts, method="fleiss"), abs=1e-12)
    ck = cohen_kappa_matrix(ratings, 7)
    for i in range(4):
        for j in range(4):
            expected = 1.0 if i == j else cohen_kappa_score(ratings[:, i], ratings[:, j])
            assert ck[i, j] == pytest.approx(expected, abs=1e-12)
    pairs = [(ratings[:, i] == ratings[:, j]).mean() for i in range(4) for j in range(i + 1, 4)]
    assert percent_agreement(ratings) == pytest.approx(np.mean(pairs))


def test_undefined_kappa_is_none_not_nan():
    assert fleiss_kappa(np.array([[3, 0], [3, 0]])) is None  # one category used by everyone
    assert fleiss_kappa(np.array([[1, 0], [0, 1]])) is None  # one rater


def test_run_metrics_match_independent_computation_on_real_predictions(tmp_path, fer2013_root, model_store):
    models = "fer-mini-xception,oarriaga-mini-xception-119,oarriaga-big-xception-54"
    res = api.run(
        "fer2013-images",
        data_root=fer2013_root,
        out=tmp_path,
        models=models,
        split="PublicTest",
        limit=250,
        model_store=model_store,
        write_report=False,
    )
    table = pd.read_parquet(res.predictions_path)
    labels = res.metrics["labels"]
    preds = {}
    for mid, g in table.groupby("model_id"):
        g = g.set_index("sample_id").loc[res.dataset.samples.sample_id]
        probs = g[[f"p_{lab}" for lab in labels]].to_numpy()
        preds[mid] = np.array(labels)[probs.argmax(axis=1)]
        truth = g["label"].to_numpy()
        assert res.metrics["models"][mid]["accuracy"] == pytest.approx(accuracy_score(truth, preds[mid]))
        assert res.metrics["models"][mid]["macro_f1"] == pytest.approx(
            f1_score(truth, preds[mid], labels=labels, average="macro", zero_division=0)
        )
    ids = models.split(",")
    codes = np.stack([pd.Categorical(preds[m], categories=labels).codes for m in ids], axis=1)
    sm_counts, _ = aggregate_raters(codes, n_cat=len(labels))
    assert res.metrics["agreement"]["fleiss_kappa"]["value"] == pytest.approx(sm_fleiss(sm_counts), abs=1e-12)
    assert res.metrics["agreement"]["cohen_kappa"][ids[0]][ids[2]] == pytest.approx(
        cohen_kappa_score(preds[ids[0]], preds[ids[2]]), abs=1e-12
    )
