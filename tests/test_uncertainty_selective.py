"""Selective prediction: risk–coverage and AURC with known answers, a brute-force oracle, ties, the commit table,
and the section on real model outputs."""

from __future__ import annotations

import numpy as np
import pytest
from _uncertainty_data import real_run

from ferbench.ensembles import EnsembleSpec, run_ensemble
from ferbench.errors import FerbenchError
from ferbench.metrics.selective import (
    ThresholdError,
    aurc,
    check_threshold,
    commit_table,
    oracle_aurc,
    risk_coverage,
    selective_summary,
)


def _brute_aurc(conf: np.ndarray, correct: np.ndarray) -> float:
    """Selective risk after answering the top i items, averaged over i (distinct confidences only)."""
    order = np.argsort(-conf)
    errs = ~correct[order]
    return float(np.mean([errs[: i + 1].mean() for i in range(len(conf))]))


def test_aurc_known_answers():
    correct = np.array([1, 1, 0, 0], dtype=bool)
    # perfect ranking: risks 0, 0, 1/3, 1/2
    assert aurc(np.array([0.9, 0.8, 0.7, 0.6]), correct) == pytest.approx((1 / 3 + 1 / 2) / 4)
    # worst ranking: risks 1, 1, 2/3, 1/2
    assert aurc(np.array([0.6, 0.7, 0.8, 0.9]), correct) == pytest.approx((1 + 1 + 2 / 3 + 1 / 2) / 4)
    assert oracle_aurc(correct) == pytest.approx((1 / 3 + 1 / 2) / 4)
    # every confidence tied: one group, its risk is the error rate
    assert aurc(np.full(4, 0.5), correct) == pytest.approx(0.5)


def test_aurc_matches_brute_force_without_ties():
    rng = np.random.default_rng(0)
    conf = rng.random(500)
    correct = rng.random(500) < conf  # confidence is informative
    assert aurc(conf, correct) == pytest.approx(_brute_aurc(conf, correct), rel=1e-12)
    assert oracle_aurc(correct) <= aurc(conf, correct) <= aurc(-conf, correct)


def test_oracle_aurc_approaches_the_continuous_formula():
    r = 0.3
    correct = np.r_[np.ones(7000), np.zeros(3000)].astype(bool)
    assert oracle_aurc(correct) == pytest.approx(r + (1 - r) * np.log(1 - r), abs=1e-3)


def test_ties_do_not_depend_on_order():
    conf = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    a = aurc(conf, np.array([1, 1, 0, 0, 0], dtype=bool))
    b = aurc(conf, np.array([1, 0, 0, 1, 0], dtype=bool))
    assert a == b
    thr, cov, risk = risk_coverage(conf, np.array([1, 1, 0, 0, 0], dtype=bool))
    assert list(thr) == [0.9, 0.5, 0.1] and list(cov) == [0.2, 0.8, 1.0]
    assert risk == pytest.approx([0.0, 0.5, 0.6])


def test_commit_table():
    conf = np.array([0.02, 0.3, 0.55, 0.75, 0.95, 0.99])
    correct = np.array([0, 0, 1, 0, 1, 1], dtype=bool)
    rows = commit_table(conf, correct)
    assert [r["threshold"] for r in rows] == [0.05, 0.5, 0.7, 0.9]
    assert [r["n_committed"] for r in rows] == [5, 4, 3, 2]
    assert rows[0]["accuracy"] == pytest.approx(3 / 5) and rows[3]["accuracy"] == 1.0
    assert commit_table(conf, correct, [1.0])[0] == {
        "threshold": 1.0,
        "n_committed": 0,
        "coverage": 0.0,
        "accuracy": None,
    }


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "high"])
def test_threshold_outside_unit_interval_is_a_user_error(bad):
    with pytest.raises(ThresholdError):
        check_threshold(bad)
    assert issubclass(ThresholdError, FerbenchError)


def test_summary_keeps_curve_ends():
    rng = np.random.default_rng(3)
    conf = rng.random(1000)
    s = selective_summary(conf, rng.random(1000) < 0.7)
    assert len(s["curve"]["coverage"]) <= 102
    assert s["curve"]["coverage"][-1] == 1.0
    assert s["curve"]["risk"][-1] == pytest.approx(s["risk_at_full_coverage"])
    assert s["e_aurc"] == pytest.approx(s["aurc"] - s["oracle_aurc"])


@pytest.fixture(scope="module")
def run(fer2013_root, model_store):
    return real_run(fer2013_root, model_store)


def test_real_selective_section(run):
    m = run.metrics
    sel = m["selective"]
    ev = run.evaluated
    assert sel["thresholds"] == [0.05, 0.5, 0.7, 0.9]
    for j, mid in enumerate(ev.model_ids):
        row = sel["models"][mid]
        conf = ev.proba[:, j].max(axis=1)
        correct = ev.pred[:, j] == ev.y_true
        assert row["confidence"]["aurc"] == pytest.approx(aurc(conf, correct))
        assert row["confidence"]["risk_at_full_coverage"] == pytest.approx(1 - m["models"][mid]["accuracy"])
        # a real FER model's confidence ranks its errors better than chance: AURC under the error rate
        assert row["confidence"]["aurc"] < row["confidence"]["risk_at_full_coverage"]
        commit = row["confidence"]["commit"]
        assert (
            commit[0]["coverage"] >= commit[1]["coverage"] >= commit[2]["coverage"] >= commit[3]["coverage"]
        )
        # confident answers are more often right than all answers
        assert commit[3]["accuracy"] > m["models"][mid]["accuracy"]
        assert row["agreement"]["n"] == 252
        cal = row["calibrated"]
        assert cal["split"] == "PrivateTest" and cal["confidence"]["n"] == cal["calibrated"]["n"]
    for name, method in (("vote-all", "vote"), ("mean-all", "mean")):
        out = run_ensemble(EnsembleSpec(name, tuple(ev.model_ids), method), ev.model_ids, ev.pred, ev.proba)
        row = sel["ensembles"][name]
        correct = out.raw_label == ev.y_true
        assert row["confidence"]["n"] == 252
        assert row["confidence"]["aurc"] == pytest.approx(aurc(out.confidence, correct))
        assert row["agreement"]["aurc"] == pytest.approx(aurc(out.agreement, correct))
