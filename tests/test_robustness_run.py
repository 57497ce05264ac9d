"""Robustness runs on ~200 real FER2013 faces with the three verified FER2013 models.

Flip bound, justified from the same run rather than hard-coded: if a model ignored left-right symmetry
entirely, its label on the mirrored face would be roughly independent of the clean one, and the share of
changed labels would be the chance level ``1 - sum_k p_k^2`` (p: the model's label shares), about 0.8 here.
The three models were trained with horizontal-flip augmentation, so a mirrored face is an in-distribution
image of the same expression; the instability left is the kind that separates two models trained on the same
data. So each model's flip label change must stay below the largest disagreement between two of the models
on the clean faces (about 0.3) and below 0.4 × its chance level, and the mean-probability ensemble (which
averages out part of that instability) below half of that disagreement. Accuracy should not move: with 200
paired faces the standard error of an accuracy difference is about 0.03, so |drop| <= 0.07.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _fairness_fixtures import MODELS, image_dataset

from ferbench import api
from ferbench.engine import PredictionStore
from ferbench.errors import FerbenchError

IDS = MODELS.split(",")
PERTURB = "flip,mask:5,blur:1-2"


@pytest.fixture(scope="module")
def run(tmp_path_factory, fer2013_root, model_store):
    out = tmp_path_factory.mktemp("robustness") / "run"
    ds = image_dataset(fer2013_root, 200, seed=3)
    return api.run(ds, out=out, models=MODELS, model_store=model_store, perturb=PERTURB)


def _labels(run, variant: str) -> pd.DataFrame:
    """(sample × model) restricted arg-max labels from the store, by hand."""
    rows = PredictionStore(run.out).read(IDS)
    rows = rows[rows.variant == variant]
    labs = list(run.dataset.labels)
    pred = rows[[f"p_{lab}" for lab in labs]].idxmax(axis=1).str.removeprefix("p_")
    return rows.assign(pred=pred).pivot(index="sample_id", columns="model_id", values="pred")


def test_flip_is_near_label_invariant(run):
    clean = _labels(run, "clean")
    disagreement = max((clean[a] != clean[b]).mean() for i, a in enumerate(IDS) for b in IDS[i + 1 :])
    sev = run.metrics["robustness"]["perturbations"]["flip"]["severities"][0]
    for mid in IDS:
        st = sev["models"][mid]
        chance = 1.0 - (clean[mid].value_counts(normalize=True) ** 2).sum()
        assert st["n"] == 200
        assert st["label_change"] <= disagreement, (mid, st["label_change"], disagreement)
        assert st["label_change"] <= 0.4 * chance
        assert abs(st["accuracy_drop"]["value"]) <= 0.07
    assert sev["ensemble"]["label_change"] <= disagreement / 2
    # a perturbation that hides the mouth does change labels, far more than the flip
    mask = run.metrics["robustness"]["perturbations"]["mask"]["severities"][0]
    for mid in IDS:
        assert mask["models"][mid]["label_change"] > 2 * sev["models"][mid]["label_change"]
        assert mask["models"][mid]["accuracy_drop"]["ci"][0] > 0


def test_section_matches_hand_computation(run):
    clean = _labels(run, "clean")
    truth = run.dataset.samples.set_index("sample_id")["label"].reindex(clean.index)
    perts = run.metrics["robustness"]["perturbations"]
    for name, sev in (("mask", 5), ("blur", 1), ("blur", 2)):
        entry = next(s for s in perts[name]["severities"] if s["severity"] == sev)
        assert entry["variant"] == f"clean+{name}:{sev}"
        pert = _labels(run, entry["variant"]).reindex(clean.index)
        for mid in IDS:
            st = entry["models"][mid]
            assert st["label_change"] == pytest.approx((clean[mid] != pert[mid]).mean(), abs=1e-12)
            acc_c, acc_p = (clean[mid] == truth).mean(), (pert[mid] == truth).mean()
            assert st["accuracy_clean"] == pytest.approx(acc_c, abs=1e-12)
            assert st["accuracy_drop"]["value"] == pytest.approx(acc_c - acc_p, abs=1e-12)
            lo, hi = st["accuracy_drop"]["ci"]
            assert lo <= st["accuracy_drop"]["value"] <= hi
        assert entry["agreement"]["fleiss_kappa_clean"] == pytest.approx(
            run.metrics["agreement"]["fleiss_kappa"]["value"], abs=1e-12
        )
    # blur is graded: its stronger severity moves more labels for the ensemble
    blur = {s["severity"]: s for s in perts["blur"]["severities"]}
    assert blur[2]["ensemble"]["label_change"] > blur[1]["ensemble"]["label_change"]


def test_rerun_reuses_every_perturbed_prediction(run, model_store):
    again = api.run(
        run.dataset, out=run.out, models=MODELS, model_store=model_store, perturb=PERTURB, write_report=False
    )
    eng = again.metrics["provenance"]["perturb_engine"]
    assert set(eng) == {"clean+flip:1", "clean+mask:5", "clean+blur:1", "clean+blur:2"}
    assert all(sum(v["computed"].values()) == 0 for v in eng.values())
    assert all(sum(v["reused"].values()) == 200 * len(IDS) for v in eng.values())
    assert again.metrics["robustness"] == run.metrics["robustness"]


def test_report_shows_curves_and_table(run):
    html = run.report_path.read_text()
    assert 'id="section-robustness"' in html
    assert 'aria-label="accuracy against perturbation severity, one panel per perturbation"' in html
    assert "clean → " in html and "ensemble" in html
    json.loads(run.metrics_path.read_text())  # strict JSON, no NaN


def test_bad_perturb_fails_before_any_work(tmp_path, fer2013_root, model_store):
    ds = image_dataset(fer2013_root, 5)
    with pytest.raises(FerbenchError, match="severities 1-5, got 9"):
        api.run(ds, out=tmp_path / "r", models=MODELS, model_store=model_store, perturb="mask,blur:9")
    assert not (tmp_path / "r").exists()


def test_ensemble_and_ece_on_a_tiny_case():
    from ferbench.analysis.robustness import expected_calibration_error

    conf = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([1, 1, 1, 0], bool)
    # bins: {0.95: acc 1, conf .95}, {0.55: acc .5, conf .55} -> (2*.05 + 2*.05) / 4
    assert expected_calibration_error(conf, correct) == pytest.approx(0.05)


def test_one_model_one_group_renders_with_reasons(tmp_path, fer2013_root, model_store):
    """Edge case: one model (no ensemble, no agreement) and one group (no gap) still give a full report."""
    ds = image_dataset(fer2013_root, 40, seed=9)
    r = api.run(
        ds, out=tmp_path / "r", models="fer-mini-xception", model_store=model_store, perturb="rotate:2",
        groups="split",
    )  # fmt: skip
    sev = r.metrics["robustness"]["perturbations"]["rotate"]["severities"][0]
    assert "ensemble" not in sev and sev["agreement"]["reason"] == "agreement needs at least two models"
    fair = r.metrics["fairness"]["groupings"]["split"]
    assert fair["models"]["fer-mini-xception"]["gap"]["accuracy"]["difference"] is None
    html = r.report_path.read_text()
    assert "fewer than two groups large enough to compare" in html
    assert "agreement needs at least two models" in html
