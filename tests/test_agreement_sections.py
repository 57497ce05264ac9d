"""metrics.json agreement blocks at the edges: one model, failed samples, disjoint label sets, no NaN."""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from ferbench.api import run
from ferbench.evaluate import EvaluatedPredictions, agreement_section
from ferbench.metrics.agreement import rating_counts
from ferbench.metrics.agreement_summary import ratings_block

LABELS = ("neutral", "happy", "sad", "anger")


def _ev(pred: np.ndarray) -> EvaluatedPredictions:
    n, m = pred.shape
    return EvaluatedPredictions(
        np.array([f"s{i}" for i in range(n)]),
        np.arange(n) % len(LABELS),
        LABELS,
        [f"m{j}" for j in range(m)],
        pred,
        np.full((n, m, len(LABELS)), 0.25),
        np.zeros((n, m)),
        np.where(pred >= 0, "ok", "bad_image").astype(object),
    )


def test_skeleton_keys_keep_their_meaning_with_failed_samples() -> None:
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 4, (120, 3))
    pred[:10, 0] = -1  # model 0 failed on ten faces
    sec = agreement_section(_ev(pred), seed=0)
    complete = pred[10:]
    assert sec["n_items"] == 110
    assert sec["fleiss_kappa"]["value"] == pytest.approx(sm_fleiss(rating_counts(complete, 4)))
    assert set(sec["fleiss_kappa"]) >= {"value", "ci_low", "ci_high"}
    assert isinstance(sec["percent_agreement"], float)
    assert sec["cohen_kappa"]["m0"]["m0"] == 1.0
    # alpha also uses the ten faces two models scored
    ref = krippendorff.alpha(
        reliability_data=np.where(pred < 0, np.nan, pred).T.astype(float), level_of_measurement="nominal"
    )
    assert sec["krippendorff_alpha"]["value"] == pytest.approx(ref, abs=1e-10)
    assert sec["krippendorff_alpha"]["n_items"] == 120
    json.dumps(sec, allow_nan=False)


def test_one_model_and_no_complete_item_give_nulls_with_reasons() -> None:
    one = agreement_section(_ev(np.zeros((5, 1), dtype=int)))
    assert one["fleiss_kappa"] == {"value": None, "ci_low": None, "ci_high": None,
                                   "reason": "agreement needs at least two models"}  # fmt: skip
    assert one["percent_agreement"] is None and one["cohen_kappa"] == {}
    none = agreement_section(_ev(np.array([[0, -1], [-1, 1]])))
    assert none["n_items"] == 0 and none["fleiss_kappa"]["reason"] == "no item was scored by every model"
    json.dumps([one, none], allow_nan=False)


def test_models_sharing_no_label_have_null_pair_kappa() -> None:
    rng = np.random.default_rng(1)
    pred = np.stack([rng.integers(0, 2, 50), rng.integers(2, 4, 50), rng.integers(0, 4, 50)], axis=1)
    sets = {"m0": {"neutral", "happy"}, "m1": {"sad", "anger"}, "m2": set(LABELS)}
    sec = agreement_section(_ev(pred), label_sets=sets)
    assert sec["cohen_kappa"]["m0"]["m1"] is None
    assert "share no label" in sec["cohen_kappa_ci"]["m0"]["m1"]["reason"]
    assert sec["cohen_kappa"]["m0"]["m2"] is not None


def test_ratings_block_requires_one_column_per_rater() -> None:
    with pytest.raises(ValueError, match="one column per rater"):
        ratings_block(np.zeros((3, 2), dtype=int), LABELS, ["a", "b", "c"])


def test_single_model_run_reports_no_agreement_sections(
    fer2013_root: Path, model_store: Path, tmp_path: Path
) -> None:
    res = run("fer2013-images", data_root=fer2013_root, out=tmp_path, models="fer-mini-xception", split="test",
              limit=12, model_store=model_store)  # fmt: skip
    m = res.metrics
    assert m["agreement"]["fleiss_kappa"]["value"] is None
    assert "agreement_levels" not in m and "disagreement" not in m and "humans" not in m
    html = res.report_path.read_text()
    assert 'id="agreement-detail"' in html and "agreement needs at least two models" in html


def test_level_maps_and_missing_labels() -> None:
    from ferbench.labels import CANONICAL_LABELS
    from ferbench.metrics.levels import LEVELS

    lv = {x.key: x for x in LEVELS}
    for level in LEVELS:
        assert set(level.mapping) == set(CANONICAL_LABELS)  # every canonical label has a coarse class
    assert lv["polarity"].classes(CANONICAL_LABELS) == ("neutral", "pleasant", "unpleasant", "surprise")
    assert lv["polarity"].mapping["contempt"] == "unpleasant"
    assert lv["polarity_surprise_unpleasant"].mapping["surprise"] == "unpleasant"
    idx = np.array([[0, 1, -1], [3, 2, 4]])  # neutral happy -, surprise sad fear (in LABELS order below)
    labels = ("neutral", "happy", "sad", "surprise", "fear")
    out = lv["polarity_surprise_pleasant"].apply(idx, labels)
    classes = lv["polarity_surprise_pleasant"].classes(labels)
    assert [[classes[i] if i >= 0 else None for i in row] for row in out] == [
        ["neutral", "pleasant", None],
        ["pleasant", "unpleasant", "unpleasant"],
    ]
