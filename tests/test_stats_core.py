"""One statistics core: keyed resampling streams (an interval never moves because another model or
perturbation joins the run), one ECE, one chance-agreement rule, undefined resamples counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _fairness_fixtures import manifest_dataset, write_manifest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from ferbench import api
from ferbench.analysis import robustness
from ferbench.engine import EngineOptions
from ferbench.metrics import calibration
from ferbench.metrics.agreement import cohen_kappa, cohen_kappa_estimate, count_agreement, fleiss_kappa

A, B = "fer-mini-xception", "oarriaga-mini-xception-119"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, fer2013_root: Path, model_store: Path):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("core")
    write_manifest(fer2013_root, tmp / "manifest.csv", n=120)
    ds = manifest_dataset(tmp / "manifest.csv")
    kw = {
        "model_store": model_store,
        "options": EngineOptions(threads=1),
        "groups": "cohort",
        "perturb": "blur:3,noise:2",
        "write_report": False,
    }
    alone = api.run(ds, out=tmp / "alone", models=A, **kw)
    both = api.run(ds, out=tmp / "both", models=f"{B},{A}", **kw)
    one_pert = api.run(ds, out=tmp / "both", models=f"{B},{A}", **{**kw, "perturb": "noise:2"})
    return alone.metrics, both.metrics, one_pert.metrics


def test_fairness_and_robustness_intervals_do_not_depend_on_the_other_models(runs) -> None:  # type: ignore[no-untyped-def]
    alone, both, one_pert = runs
    fa = alone["fairness"]["groupings"]["cohort"]["models"][A]
    fb = both["fairness"]["groupings"]["cohort"]["models"][A]
    assert fa == fb
    assert fa["by_group"]["A"]["accuracy"]["ci"][0] is not None
    ra = alone["robustness"]["perturbations"]
    rb = both["robustness"]["perturbations"]
    for name in ("blur", "noise"):
        (sa,) = ra[name]["severities"]
        (sb,) = rb[name]["severities"]
        assert sa["models"][A] == sb["models"][A]
        assert sa["models"][A]["accuracy_drop"]["n_undefined"] == 0
    # Dropping one perturbation from the run does not move the other's intervals either.
    (noise_only,) = one_pert["robustness"]["perturbations"]["noise"]["severities"]
    assert noise_only["models"][A] == rb["noise"]["severities"][0]["models"][A]


def test_robustness_ece_is_the_calibration_sections_ece(runs) -> None:  # type: ignore[no-untyped-def]
    _, both, _ = runs
    (blur,) = both["robustness"]["perturbations"]["blur"]["severities"]
    for mid in (A, B):
        assert blur["models"][mid]["n"] == both["calibration"]["models"][mid]["n"]
        assert blur["models"][mid]["ece_clean"] == pytest.approx(
            both["calibration"]["models"][mid]["ece"], abs=1e-15
        )
    assert robustness.expected_calibration_error is calibration.expected_calibration_error
    # The bin edge the docs promise: bin b holds (b/15, (b+1)/15], so a confidence of exactly 2/15 is in bin 1.
    conf = np.array([2 / 15, 2 / 15 + 1e-9])
    bins = calibration.reliability_bins(conf, np.array([True, False]), 15)
    assert bins[1]["n"] == 1 and bins[2]["n"] == 1


def test_one_chance_agreement_rule_for_fleiss_and_cohen() -> None:
    # Both raters used one and the same label: chance agreement 1, undefined for both statistics.
    same = np.zeros(6, dtype=int)
    assert cohen_kappa(same, same, 3) is None
    assert cohen_kappa_estimate(same, same, 3).value is None
    assert np.isnan(cohen_kappa_score(same, same))  # scikit-learn agrees (nan)
    counts, _ = aggregate_raters(np.stack([same, same], 1), n_cat=3)
    assert fleiss_kappa(counts) is None
    assert np.isnan(sm_fleiss(counts))  # statsmodels: 0/0
    # Elsewhere the point values match the oracles.
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 200)
    b = np.where(rng.random(200) < 0.5, a, rng.integers(0, 4, 200))
    assert cohen_kappa(a, b, 4) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    counts, _ = aggregate_raters(np.stack([a, b, a], 1), n_cat=4)
    assert fleiss_kappa(counts) == pytest.approx(sm_fleiss(counts), abs=1e-12)


def test_undefined_resamples_are_counted_next_to_the_interval() -> None:
    # Five items, four rated unanimously "0", one split: a resample that misses the split item has a single
    # category, so kappa is undefined there. P(miss) = 0.8^5 = 0.328, i.e. about 328 of 1,000 resamples.
    counts = np.array([[3, 0], [3, 0], [3, 0], [3, 0], [1, 2]])
    est = count_agreement(counts, n_resamples=1000, seed=0).fleiss_kappa
    assert est.value == pytest.approx(sm_fleiss(counts), abs=1e-12)
    assert est.n_undefined is not None and 250 < est.n_undefined < 410
    assert est.to_json()["n_undefined_resamples"] == est.n_undefined
