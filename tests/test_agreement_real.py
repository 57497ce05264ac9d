"""Agreement sections on real model predictions: 3 real models on 200 FER2013 test faces (and FER+ rows)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pytest
from _agreement_data import write_fer2013_csv
from scipy.stats import entropy
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss
from typer.testing import CliRunner

from ferbench.api import RunResult, run
from ferbench.cli import app
from ferbench.datasets import load_dataset
from ferbench.datasets.ferplus import load_ferplus_votes, vote_matrix
from ferbench.evaluate import evaluate
from ferbench.metrics.agreement import rating_counts
from ferbench.metrics.humans import plurality
from ferbench.metrics.levels import LEVELS

MODELS = "fer-mini-xception,oarriaga-mini-xception-119,oarriaga-big-xception-54"


@pytest.fixture(scope="module")
def fer_run(fer2013_root: Path, model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    out = tmp_path_factory.mktemp("agr_run")
    return run("fer2013-images", data_root=fer2013_root, out=out, models=MODELS, split="test", limit=200,
               model_store=model_store, seed=0)  # fmt: skip


def _complete(res: RunResult) -> np.ndarray:
    p = res.evaluated.pred
    return p[np.all(p >= 0, axis=1)]


def test_agreement_section_matches_independent_libraries(fer_run: RunResult) -> None:
    a = fer_run.metrics["agreement"]
    r = _complete(fer_run)
    k = len(fer_run.evaluated.labels)
    counts = rating_counts(r, k)
    assert a["n_items"] == len(r) == 200
    assert a["fleiss_kappa"]["value"] == pytest.approx(sm_fleiss(counts), abs=1e-12)
    assert a["fleiss_kappa"]["ci_low"] < a["fleiss_kappa"]["value"] < a["fleiss_kappa"]["ci_high"]
    ref_alpha = krippendorff.alpha(reliability_data=r.T.astype(float), level_of_measurement="nominal")
    assert a["krippendorff_alpha"]["value"] == pytest.approx(ref_alpha, abs=1e-10)
    ids = fer_run.evaluated.model_ids
    for i, x in enumerate(ids):
        for j, y in enumerate(ids):
            if i != j:
                ref = cohen_kappa_score(r[:, i], r[:, j])
                assert a["cohen_kappa"][x][y] == pytest.approx(ref, abs=1e-12)
                ci = a["cohen_kappa_ci"][x][y]
                assert ci["value"] == a["cohen_kappa"][x][y] and ci["ci_low"] < ci["value"] < ci["ci_high"]
    for j, lab in enumerate(fer_run.evaluated.labels):
        two = np.stack([counts[:, j], counts.sum(1) - counts[:, j]], axis=1)
        got = a["fleiss_kappa_per_class"][lab]["value"]
        if counts[:, j].sum() == 0:
            assert got is None
        else:
            assert got == pytest.approx(sm_fleiss(two), abs=1e-12)
    top = counts.max(axis=1)
    assert a["share_all_agree"]["value"] == pytest.approx(np.mean(top == 3))
    assert a["share_majority"]["value"] == pytest.approx(np.mean(top >= 2))
    assert isinstance(a["percent_agreement"], float)  # skeleton contract: a plain number
    json.dumps(fer_run.metrics, allow_nan=False)


def test_sections_reproducible_bit_for_bit(fer_run: RunResult) -> None:
    preds = fer_run.evaluated  # noqa: F841
    from ferbench.engine import PredictionStore

    store = PredictionStore(fer_run.out).read([c.id for c in fer_run.cards])
    ds, cards, labels = fer_run.dataset, fer_run.cards, fer_run.dataset.labels
    keys = ("agreement", "agreement_levels", "disagreement")
    again, _ = evaluate(store, ds.samples, cards, labels, seed=0)
    for key in keys:
        assert json.dumps(again[key]) == json.dumps(fer_run.metrics[key])
    other, _ = evaluate(store, ds.samples, cards, labels, seed=1)
    assert (
        other["agreement"]["fleiss_kappa"]["value"] == fer_run.metrics["agreement"]["fleiss_kappa"]["value"]
    )
    assert (
        other["agreement"]["fleiss_kappa"]["ci_low"] != fer_run.metrics["agreement"]["fleiss_kappa"]["ci_low"]
    )


def test_levels_section(fer_run: RunResult) -> None:
    sec = fer_run.metrics["agreement_levels"]["levels"]
    labels = fer_run.evaluated.labels
    r = _complete(fer_run)
    assert set(sec) == {lv.key for lv in LEVELS}
    assert sec["polarity"]["mapping"]["surprise"] == "surprise"
    assert sec["polarity_surprise_pleasant"]["mapping"]["surprise"] == "pleasant"
    for lv in LEVELS:
        names = np.array(labels)[r]
        coarse = np.vectorize(lv.mapping.get)(names)
        classes = sec[lv.key]["classes"]
        idx = np.vectorize(classes.index)(coarse)
        assert sec[lv.key]["fleiss_kappa"]["value"] == pytest.approx(
            sm_fleiss(rating_counts(idx, len(classes)))
        )
    # emotional vs neutral is the per-class kappa of neutral (the same two-way question)
    assert sec["emotional_vs_neutral"]["fleiss_kappa"]["value"] == pytest.approx(
        fer_run.metrics["agreement"]["fleiss_kappa_per_class"]["neutral"]["value"]
    )
    y = np.array(labels)[fer_run.evaluated.y_true]
    for j, mid in enumerate(fer_run.evaluated.model_ids):
        pol = sec["polarity"]["mapping"]
        p = np.array(labels)[fer_run.evaluated.pred[:, j]]
        assert sec["polarity"]["accuracy"][mid] == pytest.approx(
            np.mean([pol[a] == pol[b] for a, b in zip(p, y, strict=True)])
        )


def test_disagreement_section(fer_run: RunResult) -> None:
    d = fer_run.metrics["disagreement"]
    labels = list(fer_run.evaluated.labels)
    r = _complete(fer_run)
    ref = np.zeros((len(labels), len(labels)), dtype=int)
    for i in range(3):
        for j in range(3):
            if i != j:
                ref += confusion_matrix(r[:, i], r[:, j], labels=range(len(labels)))
    assert np.array_equal(np.array(d["pair_confusion"]), ref)
    # every disagreeing (model pair, face) is counted once under its label pair
    n_pair_disagreements = sum(int(np.sum(r[:, i] != r[:, j])) for i in range(3) for j in range(i + 1, 3))
    pairs = d["top_confused_pairs"]
    first = pairs[0]
    a, b = labels.index(first["labels"][0]), labels.index(first["labels"][1])
    direct = sum(
        int(np.sum((r[:, i] == a) & (r[:, j] == b) | (r[:, i] == b) & (r[:, j] == a)))
        for i in range(3)
        for j in range(i + 1, 3)
    )
    assert first["count"] == direct
    assert first["share_of_disagreements"] == pytest.approx(direct / n_pair_disagreements)
    ents = [it["vote_entropy"] for it in d["disputed_items"]]
    assert ents == sorted(ents, reverse=True) and len(ents) == 20
    ids = list(fer_run.evaluated.sample_ids)
    for it in d["disputed_items"]:
        row = fer_run.evaluated.pred[ids.index(it["sample_id"])]
        assert [labels[x] for x in row] == list(it["predictions"].values())
        assert it["vote_entropy"] == pytest.approx(entropy(np.bincount(row, minlength=len(labels)), base=2))
    all_ent = entropy(rating_counts(r, len(labels)).T, base=2)
    assert ents[0] == pytest.approx(all_ent.max())
    y = fer_run.evaluated.y_true
    for lab, block in d["by_label"].items():
        sel = y == labels.index(lab)
        assert block["n_items"] == sel.sum()
        c = rating_counts(fer_run.evaluated.pred[sel], len(labels))
        if block["fleiss_kappa"]["value"] is not None:
            assert block["fleiss_kappa"]["value"] == pytest.approx(sm_fleiss(c), abs=1e-12)


def test_humans_section_on_ferplus_rows(
    ferplus_root: Path, fer2013_root: Path, model_store: Path, tmp_path: Path
) -> None:
    votes = load_ferplus_votes(ferplus_root)
    write_fer2013_csv(tmp_path / "fer2013.csv", votes, fer2013_root)
    full = load_dataset("ferplus", ferplus_root, pixels=tmp_path / "fer2013.csv")
    with_ties = run(full, out=tmp_path / "run", models=MODELS, model_store=model_store)
    n_tied = len(full.vote_only)  # voted faces without a plurality label: scored for the humans section only
    assert with_ties.metrics["humans"]["n_vote_only_faces"] == n_tied
    assert with_ties.metrics["humans"]["humans"]["n_faces"] == len(full) + n_tied
    assert with_ties.metrics["n_samples"] == len(full)
    # the samples alone (as a manifest with votes_<label> columns gives them): checked face by face
    ds = replace(full, vote_only=None)
    res = run(ds, out=tmp_path / "run", models=MODELS, model_store=model_store)
    h = res.metrics["humans"]
    labels = list(res.evaluated.labels)
    v = vote_matrix(ds.samples, tuple(labels))
    plur = plurality(v)
    for j, mid in enumerate(res.evaluated.model_ids):
        p = res.evaluated.pred[:, j]
        has = (plur >= 0) & (p >= 0)
        assert h["models"][mid]["plurality_accuracy"]["value"] == pytest.approx(np.mean(p[has] == plur[has]))
        soft = np.mean(v[np.arange(len(p)), p] / v.sum(axis=1))
        assert h["models"][mid]["soft_accuracy"]["value"] == pytest.approx(soft)
    ref = krippendorff.alpha(value_counts=v, level_of_measurement="nominal")
    assert h["humans"]["krippendorff_alpha"]["value"] == pytest.approx(ref, abs=1e-10)
    # people vs models on the same faces from the samples' votes_<label> columns alone (the manifest path)
    # every vote on an evaluated label: no unknown / not-a-face vote, none for a label outside the set
    other = [c for c in ds.samples.columns if c.startswith("votes_") and c[6:] not in labels]
    same = (ds.samples[other].sum(axis=1) == 0).to_numpy()
    same = same & (res.evaluated.pred >= 0).all(axis=1) & (v.sum(axis=1) >= 2)
    k = h["people"]["kappa"]
    assert k["n_faces"] == same.sum() > 0
    assert k["humans"]["value"] == pytest.approx(sm_fleiss(v[same]), abs=1e-12)
    mc = rating_counts(res.evaluated.pred[same], len(labels))
    assert k["models"]["value"] == pytest.approx(sm_fleiss(mc), abs=1e-12)
    assert "humans" not in _sections_without_votes(res)
    html = res.report_path.read_text()
    assert 'id="humans"' in html


def _sections_without_votes(res: RunResult) -> dict[str, Any]:
    from ferbench.engine import PredictionStore

    samples = res.dataset.samples.drop(
        columns=[c for c in res.dataset.samples.columns if c.startswith("votes_")]
    )
    store = PredictionStore(res.out).read([c.id for c in res.cards])
    out, _ = evaluate(store, samples, res.cards, res.dataset.labels)
    return out


def test_compare_and_report(fer_run: RunResult, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    m = json.loads(fer_run.metrics_path.read_text())
    m["dataset"] = "other"
    (other / "metrics.json").write_text(json.dumps(m))
    r = CliRunner().invoke(app, ["compare", str(fer_run.out), str(other), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert [x["dataset"] for x in doc["runs"]] == ["fer2013-images", "other"]
    assert doc["runs"][0]["fleiss_kappa"] == {
        k: fer_run.metrics["agreement"]["fleiss_kappa"][k] for k in ("value", "ci_low", "ci_high")
    }
    for mid in fer_run.metrics["models"]:
        assert doc["runs"][0]["accuracy"][mid] == fer_run.metrics["models"][mid]["accuracy"]
    bad = CliRunner().invoke(app, ["compare", str(tmp_path / "nowhere")])
    assert bad.exit_code != 0
    html = fer_run.report_path.read_text()
    for sec in ("agreement-levels", "disagreement"):
        assert f'id="{sec}"' in html
    assert fer_run.metrics["disagreement"]["disputed_items"][0]["sample_id"] in html


def test_agreement_figures_are_deterministic_and_scoped(fer_run: RunResult) -> None:
    import re

    from ferbench.report.figures_agreement import section_figures

    a = section_figures(fer_run.metrics)
    b = section_figures(json.loads(json.dumps(fer_run.metrics)))
    assert a == b
    drawn = [svg for svg in a.values() if svg is not None]
    assert len(drawn) == 4  # per-class, levels, pair confusion, by label (no votes: no humans figure)
    ids: list[str] = []
    for svg in drawn:
        assert svg.startswith("<svg") and "<metadata" not in svg and "dc:date" not in svg
        ids += re.findall(r'\sid="([^"]+)"', svg)
    assert len(ids) == len(set(ids))  # no id collides across inline figures
