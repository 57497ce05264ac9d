"""Calibration: ECE binning, Brier/NLL against scikit-learn, temperature scaling on synthetic data with a known
temperature, the refusals, and the section on real model outputs for FER2013 PublicTest/PrivateTest faces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _uncertainty_data import real_run
from sklearn.metrics import brier_score_loss, log_loss

from ferbench.analysis import evaluate
from ferbench.engine import PredictionStore
from ferbench.errors import FerbenchError
from ferbench.metrics.calibration import (
    CalibrationError,
    apply_temperature,
    brier_score,
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    temperature_scaling,
)

LABELS7 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_ece_is_zero_when_confidence_matches_accuracy_in_every_bin():
    # 10 items at 0.8 confidence with 8 right, 10 at 0.3 with 3 right
    conf = np.r_[np.full(10, 0.8), np.full(10, 0.3)]
    correct = np.r_[np.ones(8), np.zeros(2), np.ones(3), np.zeros(7)].astype(bool)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)


def test_ece_by_hand():
    # bin (0.8667, 0.9333]: 4 items at 0.9, 2 right -> gap 0.4; bin (0.4667, 0.5333]: 2 items at 0.5, 2 right
    # -> gap 0.5; ECE = 4/6 * 0.4 + 2/6 * 0.5
    conf = np.array([0.9, 0.9, 0.9, 0.9, 0.5, 0.5])
    correct = np.array([1, 1, 0, 0, 1, 1], dtype=bool)
    assert expected_calibration_error(conf, correct, 15) == pytest.approx(4 / 6 * 0.4 + 2 / 6 * 0.5)


def test_bins_are_right_closed_equal_width():
    bins = reliability_bins(np.array([0.0, 1 / 15, 1 / 15 + 1e-9, 1.0]), np.ones(4, bool), 15)
    assert len(bins) == 15 and bins[0]["lo"] == 0 and bins[-1]["hi"] == 1
    assert [b["n"] for b in bins][:2] == [2, 1]  # 0 and exactly 1/15 in bin 0
    assert bins[-1]["n"] == 1 and bins[5]["confidence"] is None


def test_brier_and_nll_match_scikit_learn():
    rng = np.random.default_rng(0)
    p = _softmax(rng.normal(size=(400, 7)) * 2)
    y = rng.integers(0, 7, size=400)
    per_class = sum(brier_score_loss((y == k).astype(int), p[:, k]) for k in range(7))
    assert brier_score(p, y) == pytest.approx(per_class, rel=1e-12)
    assert negative_log_likelihood(p, y) == pytest.approx(log_loss(y, p, labels=range(7)), rel=1e-9)


def test_nll_clips_a_zero_probability():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert negative_log_likelihood(p, np.array([1, 0])) == pytest.approx((-np.log(1e-12) - np.log(0.5)) / 2)


def test_temperature_recovers_a_known_temperature():
    # Labels are drawn from softmax(z / 2) while the model reports softmax(z): the NLL-optimal T is 2.
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20000, 5)) * 3
    truth = _softmax(z / 2.0)
    y = np.array([rng.choice(5, p=row) for row in truth])
    assert fit_temperature(_softmax(z), y) == pytest.approx(2.0, rel=0.05)


def test_temperature_keeps_labels_and_zeros():
    p = np.array([[0.7, 0.3, 0.0], [0.2, 0.5, 0.3]])
    for t in (0.5, 1.0, 3.0):
        q = apply_temperature(p, t)
        assert np.allclose(q.sum(axis=1), 1) and (q.argmax(axis=1) == p.argmax(axis=1)).all()
        assert q[0, 2] == 0.0  # a class the model lacks never gets mass
    assert np.allclose(apply_temperature(p, 1.0), p)
    with pytest.raises(ValueError):
        apply_temperature(p, 0.0)


def _data(n: int, k: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return _softmax(rng.normal(size=(n, k))), y, [f"s{seed}-{i}" for i in range(n)]


def test_refuses_overlapping_fit_and_eval_items():
    p, y, ids = _data(100)
    with pytest.raises(CalibrationError, match="share 1 item"):
        temperature_scaling(p, y, ids, p[:5], y[:5], ids[99:] + ["x"] * 4, labels=LABELS7)
    assert issubclass(CalibrationError, FerbenchError)


def test_refuses_too_few_items_and_missing_classes():
    p, y, ids = _data(30)
    q, yq, idq = _data(30, seed=1)
    with pytest.raises(CalibrationError, match="30 items, fewer than the 50"):
        temperature_scaling(p, y, ids, q, yq, idq, labels=LABELS7)
    p, y, ids = _data(100)
    y = np.where(y == 5, 0, y)  # no 'disgust' left in the fit split
    with pytest.raises(CalibrationError, match="no item labelled disgust"):
        temperature_scaling(p, y, ids, q, yq, idq, labels=LABELS7)


def test_summary_scores_given_labels_on_ties():
    p = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    y = np.array([1, 1])
    assert calibration_summary(p, y)["accuracy"] == 0.0  # first arg-max
    s = calibration_summary(p, y, pred=np.array([1, 1]))
    assert s["accuracy"] == 1.0 and s["mean_confidence"] == 0.5 and s["ece"] == pytest.approx(0.5)


def test_summary_fields():
    p, y, _ = _data(70)
    s = calibration_summary(p, y)
    assert s["n"] == 70 and len(s["reliability"]) == 15
    assert sum(b["n"] for b in s["reliability"]) == 70
    assert s["accuracy"] == pytest.approx(float((p.argmax(1) == y).mean()))


@pytest.fixture(scope="module")
def run(fer2013_root, model_store):
    return real_run(fer2013_root, model_store)


def test_real_calibration_section(run):
    m = run.metrics
    cal = m["calibration"]
    ev = run.evaluated
    assert cal["temperature_protocol"]["status"] == "fitted"
    assert cal["temperature_protocol"]["fit_split"] == "PublicTest"
    assert set(cal["models"]) == set(m["models"])  # every model has a row
    split = run.dataset.samples["split"].to_numpy()
    n_eval = int((split == "PrivateTest").sum())
    for j, mid in enumerate(ev.model_ids):
        row = cal["models"][mid]
        # recompute from the evaluated probabilities with scikit-learn as the oracle
        ok = ev.pred[:, j] >= 0
        p, y = ev.proba[ok, j], ev.y_true[ok]
        assert row["n"] == ok.sum() == 252
        assert row["nll"] == pytest.approx(log_loss(y, np.clip(p, 1e-12, 1), labels=range(7)), rel=1e-6)
        assert row["accuracy"] == pytest.approx(m["models"][mid]["accuracy"])
        assert 0 <= row["ece"] <= 1
        t = row["temperature"]
        assert t["status"] == "fitted" and 0.05 <= t["temperature"] <= 20
        assert t["n_fit"] + t["n_eval"] == 252 and t["n_eval"] == n_eval
        # temperature is fitted to minimise NLL on PublicTest: refitting there reproduces it, and the fitted
        # T is no worse on PublicTest than T = 1
        fit = ok & (split == "PublicTest")
        assert fit_temperature(ev.proba[fit, j], ev.y_true[fit]) == pytest.approx(t["temperature"], rel=1e-4)
        scaled = apply_temperature(ev.proba[fit, j], t["temperature"])
        assert negative_log_likelihood(scaled, ev.y_true[fit]) <= negative_log_likelihood(
            ev.proba[fit, j], ev.y_true[fit]
        )
        # accuracy on the eval split is untouched by temperature
        assert t["before"]["accuracy"] == t["after"]["accuracy"]
    # ensembles are measured like models; vote shares are flagged as uncalibrated
    assert cal["ensembles"]["vote-all"]["calibrated_scores"] is False
    all_softmax = all(c.calibrated_scores for c in run.cards)
    assert cal["ensembles"]["mean-all"]["calibrated_scores"] is all_softmax
    # sigmoid models are flagged and still measured; a 5-class model (no fear, no disgust) too
    sig = cal["models"]["facial-emotion-recognition-networkv2"]
    assert sig["calibrated_scores"] is False and sig["temperature"]["status"] == "fitted"
    five = cal["models"]["emotion-model-cnn5"]
    assert m["models"]["emotion-model-cnn5"]["missing_labels"] == ["fear", "disgust"]
    assert five["n"] == 252 and five["nll"] > 1.0  # the faces it can never label cost it dearly
    # an ensemble's calibration row scores the ensemble's own labels (vote ties broken its way)
    for name in ("vote-all", "mean-all"):
        assert cal["ensembles"][name]["accuracy"] == pytest.approx(m["ensembles"][name]["accuracy"])


def test_skipped_with_a_reason_without_both_splits(run):
    ids = [c.id for c in run.cards]
    samples = run.dataset.samples[run.dataset.samples["split"] == "PublicTest"]
    m, _ = evaluate(PredictionStore(run.out).read(ids), samples, run.cards, run.dataset.labels)
    tp = m["calibration"]["temperature_protocol"]
    assert tp["status"] == "skipped" and "PrivateTest" in tp["reason"]
    assert all(v["temperature"]["status"] == "skipped" for v in m["calibration"]["models"].values())
    assert m["calibration"]["models"]["fer-mini-xception"]["n"] == len(samples)
    assert m["selective"]["models"]["fer-mini-xception"]["calibrated"] is None


def test_fit_and_eval_splits_can_be_chosen_and_must_differ(run):
    ids = [c.id for c in run.cards]
    preds = PredictionStore(run.out).read(ids)
    opts = {"calibration_fit_split": "PrivateTest", "calibration_eval_split": "PublicTest"}
    m, _ = evaluate(preds, run.dataset.samples, run.cards, run.dataset.labels, options=opts)
    assert m["calibration"]["temperature_protocol"]["fit_split"] == "PrivateTest"
    assert m["calibration"]["temperature_protocol"]["status"] == "fitted"
    same = {"calibration_fit_split": "PublicTest", "calibration_eval_split": "PublicTest"}
    m, _ = evaluate(preds, run.dataset.samples, run.cards, run.dataset.labels, options=same)
    assert "same" in m["calibration"]["temperature_protocol"]["reason"]


def test_sigmoid_models_are_flagged_and_still_measured(run):
    """A card whose outputs are sigmoids (renormalised) is marked uncalibrated, and its numbers still come out."""
    cards = [dataclasses.replace(run.cards[0], output="sigmoid"), *run.cards[1:]]
    ids = [c.id for c in cards]
    m, _ = evaluate(PredictionStore(run.out).read(ids), run.dataset.samples, cards, run.dataset.labels)
    row = m["calibration"]["models"][ids[0]]
    assert row["calibrated_scores"] is False and row["n"] == 252 and row["ece"] is not None
    assert row["temperature"]["status"] == "fitted"
    assert m["calibration"]["models"][ids[1]]["calibrated_scores"] is True
    # a mean ensemble with an uncalibrated member is itself flagged
    assert m["calibration"]["ensembles"]["mean-all"]["calibrated_scores"] is False
