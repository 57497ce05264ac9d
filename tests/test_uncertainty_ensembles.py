"""Ensembles: vote and mean rules, tie-break, abstention reasons, bad input, and ensemble rows on real outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _uncertainty_data import real_run

from ferbench.analysis import evaluate
from ferbench.engine import PredictionStore
from ferbench.ensembles import (
    LOW_AGREEMENT,
    LOW_CONFIDENCE,
    NO_PREDICTION,
    EnsembleError,
    EnsembleSpec,
    combine,
    run_ensemble,
)
from ferbench.metrics.selective import ThresholdError


def _onehotish(labels: list[int], k: int = 3, p: float = 0.6) -> np.ndarray:
    out = np.full((len(labels), k), (1 - p) / (k - 1))
    out[np.arange(len(labels)), labels] = p
    return out


def test_vote_majority_agreement_and_confidence():
    pred = np.array([[0, 0, 1]])
    proba = np.stack([_onehotish([0]), _onehotish([0]), _onehotish([1])], axis=1)
    out = combine(pred, proba, "vote")
    assert out.label[0] == 0 and out.agreement[0] == pytest.approx(2 / 3)
    assert out.confidence[0] == pytest.approx((0.6 + 0.6 + 0.2) / 3)
    assert out.proba[0] == pytest.approx([2 / 3, 1 / 3, 0])


def test_vote_tie_goes_to_larger_summed_probability():
    pred = np.array([[0, 1]])
    proba = np.array([[[0.55, 0.45, 0.0], [0.05, 0.9, 0.05]]])
    assert combine(pred, proba, "vote").label[0] == 1
    proba2 = np.array([[[0.95, 0.05, 0.0], [0.4, 0.5, 0.1]]])
    assert combine(pred, proba2, "vote").label[0] == 0


def test_mean_can_differ_from_vote():
    # two members mildly prefer class 1, one is sure of class 0
    pred = np.array([[1, 1, 0]])
    proba = np.array([[[0.4, 0.6, 0.0], [0.4, 0.6, 0.0], [1.0, 0.0, 0.0]]])
    assert combine(pred, proba, "vote").label[0] == 1
    m = combine(pred, proba, "mean")
    assert m.label[0] == 0 and m.proba[0] == pytest.approx([0.6, 0.4, 0.0])
    assert m.agreement[0] == pytest.approx(1 / 3) and m.confidence[0] == pytest.approx(0.6)


def test_abstention_reasons_and_failed_members():
    pred = np.array([[0, 1, 2], [0, 0, 0], [-1, -1, -1], [0, 0, -1]])
    proba = np.stack([_onehotish([0, 0, 0, 0]), _onehotish([1, 0, 0, 0]), _onehotish([2, 0, 0, 0])], axis=1)
    proba[2] = np.nan
    proba[3, 2] = np.nan
    out = combine(pred, proba, "vote", min_agreement=0.5, min_confidence=0.7)
    assert list(out.reason) == [LOW_AGREEMENT, LOW_CONFIDENCE, NO_PREDICTION, LOW_CONFIDENCE]
    assert list(out.label) == [-1, -1, -1, -1] and list(out.raw_label) == [0, 0, -1, 0]
    assert list(out.n_members) == [3, 3, 0, 2]
    assert out.agreement[3] == 1.0  # the failed member is left out, not counted as disagreeing
    ok = combine(pred, proba, "vote", min_agreement=0.5, min_confidence=0.6)
    assert list(ok.label) == [-1, 0, -1, 0]


def test_bad_input():
    pred = np.zeros((2, 1), dtype=int)
    with pytest.raises(EnsembleError, match="at least two"):
        combine(pred, np.ones((2, 1, 3)) / 3)
    with pytest.raises(EnsembleError, match="at least two"):
        EnsembleSpec("solo", ("a",))
    with pytest.raises(EnsembleError, match="at least two"):
        EnsembleSpec("dup", ("a", "a"))
    with pytest.raises(ThresholdError):
        EnsembleSpec("x", ("a", "b"), min_agreement=1.2)
    with pytest.raises(EnsembleError, match="unknown method"):
        EnsembleSpec("x", ("a", "b"), method="median")  # type: ignore[arg-type]
    with pytest.raises(EnsembleError, match="not among"):
        run_ensemble(EnsembleSpec("x", ("a", "zz")), ["a", "b"], np.zeros((1, 2), int), np.ones((1, 2, 3)))


@pytest.fixture(scope="module")
def run(fer2013_root, model_store):
    return real_run(fer2013_root, model_store)


def test_real_ensemble_rows(run):
    m = run.metrics
    ev = run.evaluated
    ens = m["ensembles"]
    assert set(ens) == {"vote-all", "mean-all", "vote-all-abstain", "mean-all-abstain"}
    assert not set(ens) & set(m["models"])  # no fake entries among the models
    for e in ens.values():
        # same metric keys as a model row, plus coverage and abstentions
        assert {"accuracy", "macro_f1", "confusion", "per_class", "n_failed"} <= set(e)
        assert 0 < e["coverage"] <= 1 and e["n"] == round(e["coverage"] * 252)
        assert sum(e["abstentions"].values()) == e["n_abstained"] == 252 - e["n"]
        assert sum(map(sum, e["confusion"])) == e["n"]
    # majority vote recomputed independently with pandas
    votes = pd.DataFrame(ev.pred)
    counts = votes.apply(lambda r: r.value_counts(), axis=1).fillna(0)
    top = counts.max(axis=1)
    unique_winner = (counts == top.to_numpy()[:, None]).sum(axis=1) == 1
    winner = counts.idxmax(axis=1).to_numpy()
    out = run_ensemble(EnsembleSpec("v", tuple(ev.model_ids)), ev.model_ids, ev.pred, ev.proba)
    assert (out.raw_label[unique_winner] == winner[unique_winner]).all()
    assert ens["vote-all"]["accuracy"] == pytest.approx(float((out.raw_label == ev.y_true).mean()))
    # abstaining on low agreement removes exactly the items where no label had half the votes
    n_scoring = (ev.pred >= 0).sum(axis=1)
    assert ens["vote-all-abstain"]["abstentions"].get("low agreement", 0) == int(
        (top / n_scoring < 0.5).sum()
    )
    # abstaining raises accuracy on what is answered
    assert ens["mean-all-abstain"]["accuracy"] >= ens["mean-all"]["accuracy"]
    assert ens["mean-all-abstain"]["accuracy_before_abstention"] == pytest.approx(ens["mean-all"]["accuracy"])


def test_custom_ensembles_and_one_model_runs(run):
    ids = [c.id for c in run.cards]
    preds = PredictionStore(run.out).read(ids)
    spec = EnsembleSpec("pair", (ids[0], ids[1]), "mean", min_confidence=0.9)
    m, _ = evaluate(preds, run.dataset.samples, run.cards, run.dataset.labels, options={"ensembles": [spec]})
    assert list(m["ensembles"]) == ["pair"] and m["ensembles"]["pair"]["members"] == ids[:2]
    assert m["ensembles"]["pair"]["coverage"] < 0.8
    m1, _ = evaluate(preds, run.dataset.samples, run.cards[:1], run.dataset.labels)
    assert "ensembles" not in m1 and m1["calibration"]["ensembles"] == {}


def test_failed_items_are_left_out_not_fatal(run):
    """Items one model could not score: that model's rows shrink, ensembles vote without it."""
    ids = [c.id for c in run.cards]
    preds = PredictionStore(run.out).read(ids).copy()
    bad = preds["sample_id"].isin(run.dataset.samples["sample_id"].iloc[:10]) & (preds["model_id"] == ids[0])
    preds.loc[bad, "status"] = "unreadable"
    m, _ = evaluate(preds, run.dataset.samples, run.cards, run.dataset.labels)
    assert m["calibration"]["models"][ids[0]]["n"] == 242
    assert m["selective"]["models"][ids[0]]["confidence"]["n"] == 242
    assert m["calibration"]["models"][ids[1]]["n"] == 252
    assert m["ensembles"]["vote-all"]["n"] == 252 and m["ensembles"]["vote-all"]["n_failed"] == 0
    t = m["calibration"]["models"][ids[0]]["temperature"]
    assert t["n_fit"] + t["n_eval"] == 242
