"""``ferbench run --conformal --calibrate-on``: calibration faces scored beside the evaluated split and never
counted in it, thresholds equal to MAPIE's on the run's own stored calibration scores, temperature scaling on the
same faces, the refusals, and the people-vs-sets view on real FER+ faces and votes (a manifest with
``votes_<label>`` columns)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _uncertainty_data import stratified_test_subset
from mapie.classification import SplitConformalClassifier
from scipy.stats import spearmanr
from test_uncertainty_conformal import StoredScores

from ferbench.api import RunResult, run
from ferbench.engine import PredictionStore
from ferbench.errors import DatasetError
from ferbench.metrics.conformal import ConformalError

MODELS = "fer-mini-xception,oarriaga-mini-xception-119,emotion-model-cnn5"
FERPLUS_VOTES = ("neutral", "happy", "surprise", "sad", "anger", "disgust", "fear", "contempt")


@functools.lru_cache(maxsize=1)
def _fer2013_run(root: Path, store: Path) -> RunResult:
    ds = stratified_test_subset(root)  # 18 faces per class in each of PublicTest and PrivateTest
    out = Path(tempfile.mkdtemp(prefix="ferbench-conformal-"))
    return run(
        ds,
        out=out,
        models=MODELS,
        model_store=store,
        split="PrivateTest",
        calibrate_on="PublicTest",
        conformal=[0.9, 0.8],
        groups="label",
        perturb="mask",
    )


def _restricted(rows: pd.DataFrame, model: str, labels: list[str]) -> pd.DataFrame:
    r = rows[(rows["model_id"] == model) & (rows["variant"] == "clean") & (rows["status"] == "ok")]
    p = r[[f"p_{lab}" for lab in labels]].fillna(0.0).to_numpy()
    return pd.DataFrame(p / p.sum(axis=1, keepdims=True), index=r["sample_id"].to_numpy(), columns=labels)


def _mapie_lac(cal_p: np.ndarray, cal_y: np.ndarray, test_p: np.ndarray, level: float):
    m = SplitConformalClassifier(StoredScores(cal_p.shape[1]), confidence_level=level, prefit=True)
    m.conformalize(cal_p, cal_y)
    _, sets = m.predict_set(test_p)
    return float(np.ravel(m._mapie_classifier.conformity_score_function_.quantiles_)[0]), sets[:, :, 0]


def test_calibration_faces_are_scored_but_never_counted(fer2013_root, model_store):
    res = _fer2013_run(fer2013_root, model_store)
    m = res.metrics
    pq = pd.read_parquet(res.predictions_path)
    assert set(pq["split"]) == {"PrivateTest"} and m["n_samples"] == 126
    assert all(s["n"] == 126 for s in m["models"].values())
    stored = PredictionStore(res.out).read()
    public = stored[stored["sample_id"].str.contains("PublicTest_")]
    assert public["sample_id"].nunique() == 126  # scored (for calibration) ...
    assert not set(public["sample_id"]) & set(pq["sample_id"])  # ... and never evaluated
    cal = m["provenance"]["calibration"]
    assert cal["source"] == "split" and cal["split"] == "PublicTest" and cal["n_faces"] == 126
    assert len(cal["dataset_fingerprint"]) == 64
    # temperature scaling now fits on the calibration faces and is evaluated on all evaluated faces
    proto = m["calibration"]["temperature_protocol"]
    assert (proto["fit_split"], proto["eval_split"], proto["status"]) == (
        "PublicTest",
        "PrivateTest",
        "fitted",
    )
    t = m["calibration"]["models"]["fer-mini-xception"]["temperature"]
    assert t["n_fit"] == 126 and t["n_eval"] == 126


def test_run_thresholds_and_coverage_equal_mapie_on_the_stored_scores(fer2013_root, model_store):
    res = _fer2013_run(fer2013_root, model_store)
    m = res.metrics
    labels = m["labels"]
    stored = PredictionStore(res.out).read()
    truth = stratified_test_subset(fer2013_root).samples.set_index("sample_id")["label"]
    for model in ("fer-mini-xception", "oarriaga-mini-xception-119"):
        probs = _restricted(stored, model, labels)
        cal = probs[probs.index.str.contains("PublicTest_")]
        test = probs[probs.index.str.contains("PrivateTest_")]
        cal_y = truth[cal.index].map(labels.index).to_numpy()
        test_y = truth[test.index].map(labels.index).to_numpy()
        for level in (0.9, 0.8):
            q, sets = _mapie_lac(cal.to_numpy(), cal_y, test.to_numpy(), level)
            row = m["conformal"]["results"][f"{level:g}"]["lac"]["models"][model]
            assert row["calibration"]["threshold"] == q
            assert row["coverage"]["value"] == pytest.approx(sets[np.arange(len(test_y)), test_y].mean())
            assert row["mean_size"] == pytest.approx(sets.sum(axis=1).mean())
            lo, hi = row["coverage"]["ci_low"], row["coverage"]["ci_high"]
            assert lo <= row["coverage"]["value"] <= hi and row["within_test_interval"] == (lo <= level <= hi)
            proc = row["coverage_procedure"]
            assert proc["ci_low"] <= lo and hi <= proc["ci_high"]  # wider: the threshold varies too
            assert row["within_interval"] == (proc["ci_low"] <= level <= proc["ci_high"])
            assert proc["n_resamples"] == 10_000 and 0 < proc["mc_error"] < 0.01
            edge = min(abs(level - proc["ci_low"]), abs(level - proc["ci_high"])) <= proc["mc_error"]
            assert row["at_interval_edge"] == edge
    # the headline rule (only) carries its re-splits: the same faces pooled and re-split at the run's sizes
    from ferbench.metrics.conformal import RESPLITS

    head = m["conformal"]["results"]["0.9"]["lac_randomized"]["models"]["fer-mini-xception"]
    rs = head["resplits"]
    assert rs["sizes"] == {"calibration": head["calibration"]["n_calibration"], "evaluated": head["n"]}
    assert rs["n_resplits"] + rs["n_refused"] == RESPLITS and rs["official"] == head["coverage"]["value"]
    assert rs["min"] <= rs["mean"] <= rs["max"] and 0 <= rs["share_at_or_below"] <= 1
    assert "resplits" not in m["conformal"]["results"]["0.9"]["lac"]["models"]["fer-mini-xception"]
    # the stored thresholds file holds the same numbers, naming run, split, level and label set
    doc = json.loads((res.out / "conformal.json").read_text())
    assert doc["calibration"]["split"] == "PublicTest" and doc["labels"] == labels
    assert doc["label_rule"] == "restricted" == m["conformal"]["label_rule"]
    row = m["conformal"]["results"]["0.9"]["aps"]["ensembles"]["mean-all"]
    assert doc["thresholds"]["0.9"]["aps"]["ensembles"]["mean-all"] == row["calibration"]


def test_sets_per_label_group_and_perturbation(fer2013_root, model_store):
    m = _fer2013_run(fer2013_root, model_store).metrics
    row = m["conformal"]["results"]["0.9"]["lac"]["models"]["fer-mini-xception"]
    assert set(row["per_label"]) == set(m["labels"])
    assert sum(v["n"] for v in row["per_label"].values()) == 126
    assert sum(row["size_counts"].values()) == 126
    assert row["groups"]["label"]["happy"]["coverage"] == row["per_label"]["happy"]["coverage"]
    masked = row["perturb"]["mask:3"] if "mask:3" in row["perturb"] else next(iter(row["perturb"].values()))
    assert masked["n"] == 126 and 0 <= masked["coverage"]["value"] <= 1
    # a 5-class model lacking fear and disgust: under the restricted rule its LAC sets must hold every label to
    # cover the faces it cannot score, and the run says so instead of failing
    cnn5 = m["conformal"]["results"]["0.9"]["lac"]["models"]["emotion-model-cnn5"]
    assert cnn5["status"] == "ok" and cnn5["mean_size"] > 4
    # 18 calibration faces per label: enough for 90 % class-conditional sets (>= 9), so every label has one
    mond = m["conformal"]["results"]["0.9"]["lac_mondrian"]["models"]["fer-mini-xception"]
    assert set(mond["calibration"]["thresholds"]) == set(m["labels"])


def test_refusals_leave_the_other_sections_alone(fer2013_root, model_store, tmp_path):
    ds = stratified_test_subset(fer2013_root, per_cell=2)
    with pytest.raises(ConformalError, match="outside"):
        run(ds, out=tmp_path / "a", models="fer-mini-xception", model_store=model_store, conformal=1.5)
    with pytest.raises(DatasetError, match="shares 14 face"):
        run(
            ds,
            out=tmp_path / "b",
            models="fer-mini-xception",
            model_store=model_store,
            calibrate_on="PublicTest",
        )
    # 14 calibration faces: enough for a marginal 90 % set (>= 9), not for one per label (2 faces each)
    res = run(
        ds,
        out=tmp_path / "c",
        models="fer-mini-xception",
        model_store=model_store,
        split="PrivateTest",
        calibrate_on="PublicTest",
        conformal=0.9,
    )
    rows = res.metrics["conformal"]["results"]["0.9"]
    assert rows["lac"]["models"]["fer-mini-xception"]["status"] == "ok"
    bad = rows["lac_mondrian"]["models"]["fer-mini-xception"]
    assert bad["status"] == "refused" and "has 2 face(s); a 90 % set needs at least 9" in bad["reason"]
    assert res.metrics["models"]["fer-mini-xception"]["n"] == 14 and "calibration" in res.metrics
    # no calibration faces: the section says why, nothing else changes
    res = run(ds, out=tmp_path / "d", models="fer-mini-xception", model_store=model_store, conformal=0.9)
    assert (
        res.metrics["conformal"]["status"] == "skipped"
        and "--calibrate-on" in res.metrics["conformal"]["reason"]
    )
    assert not (tmp_path / "d" / "conformal.json").exists()


def test_a_seeded_share_is_held_out_and_recorded(fer2013_root, model_store, tmp_path):
    ds = stratified_test_subset(fer2013_root, per_cell=4)
    a = run(ds, out=tmp_path / "a", models="fer-mini-xception", model_store=model_store, calibrate_on=0.25,
            conformal=0.8, seed=3)  # fmt: skip
    b = run(ds, out=tmp_path / "b", models="fer-mini-xception", model_store=model_store, calibrate_on="0.25",
            conformal=0.8, seed=3)  # fmt: skip
    assert a.metrics["n_samples"] == 42 and a.metrics["provenance"]["calibration"]["n_faces"] == 14
    assert a.metrics["provenance"]["calibration"]["share"] == 0.25
    assert a.metrics["provenance"]["calibration"]["seed"] == 3
    assert list(a.evaluated.sample_ids) == list(b.evaluated.sample_ids)
    assert a.metrics["conformal"]["calibration"]["source"].startswith("seeded share")


def _ferplus_manifest(images: Path, out: Path, per_split: int = 150) -> Path:
    """Real FER+ faces with their ten votes: label = plurality, votes_<label> columns, split valid/test."""
    names = ["image", "box", *FERPLUS_VOTES, "unknown", "nf"]
    rows = []
    for folder, split in (("FER2013Valid", "valid"), ("FER2013Test", "test")):
        lab = pd.read_csv(images / folder / "label.csv", header=None, names=names)
        v = lab[list(FERPLUS_VOTES)].to_numpy()
        top = v.max(axis=1)
        # a unique plurality, and not contempt: 150 valid faces rarely hold one, and a label absent from the
        # calibration faces is refused (tested elsewhere); contempt votes stay in the table, outside the labels
        unique = ((v == top[:, None]).sum(axis=1) == 1) & (top > 0) & (v.argmax(axis=1) != 7)
        keep = lab[unique].sample(n=per_split, random_state=0)
        for _, r in keep.iterrows():
            row = {"path": str(images / folder / r["image"]), "split": split,
                   "label": FERPLUS_VOTES[int(np.argmax(r[list(FERPLUS_VOTES)].to_numpy()))]}  # fmt: skip
            row.update({f"votes_{x}": int(r[x]) for x in FERPLUS_VOTES})
            rows.append(row)
    path = out / "ferplus_votes.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_people_vs_sets_on_real_ferplus_votes(model_store, tmp_path):
    images = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ferplus-images"
    manifest = _ferplus_manifest(images, tmp_path)
    res = run("manifest", data_root=manifest, out=tmp_path / "run", models="fer-mini-xception",
              model_store=model_store, split="test", calibrate_on="valid", conformal=0.9)  # fmt: skip
    m = res.metrics
    assert m["conformal"]["has_votes"] and m["n_samples"] == 150
    row = m["conformal"]["results"]["0.9"]["lac"]["models"]["fer-mini-xception"]
    people = row["people"]
    # independent recomputation: MAPIE's sets on the stored scores, scipy's Spearman, votes from the manifest
    labels = m["labels"]
    stored = PredictionStore(res.out).read()
    table = pd.read_csv(manifest)
    table["sample_id"] = table["path"].map(lambda p: Path(p).name)
    probs = _restricted(stored, "fer-mini-xception", labels)
    probs.index = [Path(s).name for s in probs.index]
    by_id = table.set_index("sample_id")
    cal_ids = by_id.index[by_id["split"] == "valid"]
    test_ids = list(by_id.index[by_id["split"] == "test"])
    q, sets = _mapie_lac(
        probs.loc[cal_ids].to_numpy(),
        by_id.loc[cal_ids, "label"].map(labels.index).to_numpy(),
        probs.loc[test_ids].to_numpy(),
        0.9,
    )
    assert row["calibration"]["threshold"] == q
    votes = by_id.loc[test_ids, [f"votes_{lab}" for lab in labels]].to_numpy()
    majority = votes.argmax(axis=1)  # the manifest kept faces with a unique plurality only
    assert people["majority_coverage"]["value"] == pytest.approx(sets[np.arange(150), majority].mean())
    shares = votes / votes.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.nansum(np.where(shares > 0, shares * np.log2(shares), 0.0), axis=1)
    rho = spearmanr(sets.sum(axis=1), ent).statistic
    assert people["size_vs_entropy"]["spearman"] == pytest.approx(rho)
    supported = votes >= 3
    assert people["supported_coverage"] == pytest.approx((sets & supported).sum() / supported.sum())
    split = (sets.sum(axis=1) == 1) & (supported.sum(axis=1) >= 2)
    assert people["n_split_singletons"] == int(split.sum())
    for ex in people["split_singletons"]:
        assert len(ex["set"]) == 1 and sum(v >= 3 for v in ex["votes"].values()) >= 2


def test_predict_answers_with_the_runs_sets(fer2013_root, model_store, reference_dir, tmp_path):
    from ferbench.commands.predict import NO_SETS, predict_images, set_answer

    res = _fer2013_run(fer2013_root, model_store)
    m = res.metrics
    labels = m["labels"]
    images = reference_dir / "images"
    out = predict_images(
        images, models="fer-mini-xception", model_store=model_store, calibration=res.out, level=0.8,
        set_rule="lac",
    )  # fmt: skip
    si = out["sets"]
    row = m["conformal"]["results"]["0.8"]["lac"]["models"]["fer-mini-xception"]
    assert si["threshold"] == row["calibration"]["threshold"]
    assert (si["calibration_split"], si["confidence_level"], si["rule"]) == ("PublicTest", 0.8, "lac")
    assert si["labels"] == labels and si["run"] == str(res.out) and si["predictor"] == "fer-mini-xception"
    # oracle: MAPIE fitted on the run's stored calibration scores, applied to the printed face scores
    stored = PredictionStore(res.out).read()
    truth = stratified_test_subset(fer2013_root).samples.set_index("sample_id")["label"]
    probs = _restricted(stored, "fer-mini-xception", labels)
    cal = probs[probs.index.str.contains("PublicTest_")]
    faces = [f for im in out["images"] for f in im["faces"]]
    scores = np.array([[f["models"]["fer-mini-xception"]["scores"][lab] for lab in labels] for f in faces])
    q, sets = _mapie_lac(cal.to_numpy(), truth[cal.index].map(labels.index).to_numpy(), scores, 0.8)
    assert q == si["threshold"]
    assert [f["answer"]["set"]["labels"] for f in faces] == [
        [labels[j] for j in np.flatnonzero(s)] for s in sets
    ]
    # by default the run's headline rule (LAC with ties broken at random): sets follow the smoothed p-values
    # of the printed scores among the run's stored calibration scores, with the tie window the run stored
    head = predict_images(images, models="fer-mini-xception", model_store=model_store, calibration=res.out)
    hrow = m["conformal"]["results"]["0.9"]["lac_randomized"]["models"]["fer-mini-xception"]
    assert (
        head["sets"]["rule"] == m["conformal"]["headline"] == "lac_randomized" and head["sets"]["randomized"]
    )
    assert head["sets"]["threshold"] == hrow["calibration"]["threshold"]
    win = hrow["calibration"]["tie_window"]
    hfaces = [f for im in head["images"] for f in im["faces"]]
    for f in hfaces:
        score = {lab: 1 - f["models"]["fer-mini-xception"]["scores"][lab] for lab in labels}
        got = set(f["answer"]["set"]["labels"])
        assert {lab for lab, s in score.items() if s < win["values"][0]} <= got  # below the window: always in
        assert all(score[lab] <= win["values"][-1] for lab in got)  # above it: never
    # an ensemble of the run's models takes the run's ensemble thresholds
    ens = predict_images(
        images / "single_face.jpg", models=MODELS, model_store=model_store, calibration=res.out
    )
    assert ens["sets"]["predictor"] == "mean-all"
    assert (
        ens["sets"]["threshold"]
        == m["conformal"]["results"]["0.9"]["lac_randomized"]["ensembles"]["mean-all"]["calibration"][
            "threshold"
        ]
    )
    # no run: no invented thresholds
    plain = predict_images(images / "single_face.jpg", models="fer-mini-xception", model_store=model_store)
    assert plain["sets"] is None and plain["sets_note"] == NO_SETS
    assert "set" not in plain["images"][0]["faces"][0]["answer"]
    with pytest.raises(Exception, match="conformal.json: not found"):
        predict_images(images, models="fer-mini-xception", model_store=model_store, calibration=tmp_path)
    # a conformal.json from before randomised rules kept their tie window: a clear refusal, not a KeyError
    old_run = tmp_path / "old-run"
    old_run.mkdir()
    doc = json.loads((res.out / "conformal.json").read_text())
    del doc["thresholds"]["0.9"]["lac_randomized"]["models"]["fer-mini-xception"]["tie_window"]
    (old_run / "conformal.json").write_text(json.dumps(doc))
    with pytest.raises(Exception, match="lack 'tie_window'.*re-run that run"):
        predict_images(images, models="fer-mini-xception", model_store=model_store, calibration=old_run)
    with pytest.raises(Exception, match="was not in that run"):
        predict_images(images, models="faceapi-expression-net", model_store=model_store, calibration=res.out)
    assert set_answer(labels, np.array([0, 1, 0, 0, 0, 0, 0], bool), 0.9, 2)["text"] == "happy"
    two = set_answer(labels, np.array([0, 1, 0, 1, 0, 0, 0], bool), 0.9, 2)
    assert two["text"] == "happy or surprise (90 % sets)" and not two["uncertain"]
    three = set_answer(labels, np.array([1, 1, 0, 1, 0, 0, 0], bool), 0.9, 2)
    assert three["uncertain"] and three["text"].startswith("uncertain")


def test_predict_cli_prints_the_sets_and_their_run(fer2013_root, model_store, reference_dir):
    from test_uncertainty_predict import ferbench

    res = _fer2013_run(fer2013_root, model_store)
    q = res.metrics["conformal"]["results"]["0.9"]["lac_randomized"]["models"]["fer-mini-xception"][
        "calibration"
    ]["threshold"]
    img = str(reference_dir / "images" / "single_face.jpg")
    p = ferbench("predict", img, "--models", "fer-mini-xception", "--model-store", str(model_store),
                 "--calibration", str(res.out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    # the sets line is printed unwrapped: run, split, level and label set, and the run's own threshold
    line = next(x for x in p.stdout.splitlines() if x.startswith("Sets: "))
    assert f"threshold {q} (labels scored near it are drawn at random" in line
    assert f"from run {res.out} " in line and "calibrated on PublicTest" in line
    assert (
        line.startswith("Sets: 90 % lac_randomized sets of fer-mini-xception")
        and ", ".join(res.metrics["labels"]) in line
    )
    plain = ferbench("predict", img, "--models", "fer-mini-xception", "--model-store", str(model_store))
    assert "no calibrated sets" in " ".join(plain.stdout.split())


def test_report_shows_the_sets(fer2013_root, model_store):
    from ferbench.report.html import render_run_dir

    res = _fer2013_run(fer2013_root, model_store)
    html = render_run_dir(res.out, thumbnails=False)
    part = html[html.index('id="section-conformal"') :]
    row = res.metrics["conformal"]["results"]["0.9"]["lac_randomized"]["models"]["fer-mini-xception"]
    assert "90% sets (lac_randomized)" in part and f"{100 * row['coverage']['value']:.1f}%" in part
    assert "Coverage per true label" in part and "Coverage per group: label" in part
    assert "Coverage under perturbation" in part
    assert "The rule or this split?" in part and "re-splits: mean ± sd" in part
    assert 'aria-label="Coverage of 90 percent prediction sets per model"' in part
    # the figure marks in red exactly the predictors whose interval misses the level
    from ferbench.report.figures_uncertainty import coverage_svg

    sec = json.loads(json.dumps(res.metrics["conformal"]))
    rows = sec["results"]["0.9"]["lac_randomized"]
    for r in [*rows["models"].values(), *rows["ensembles"].values()]:
        r["within_interval"] = True
    assert "#b03a2e" not in coverage_svg(sec, "0.9", "t")
    rows["models"]["fer-mini-xception"]["within_interval"] = False
    assert "#b03a2e" in coverage_svg(sec, "0.9", "t")
    # a level within the bounds' Monte Carlo error is marked at the row and named, with that error, below it
    import shutil

    edge_dir = Path(tempfile.mkdtemp(prefix="ferbench-edge-")) / "run"
    shutil.copytree(res.out, edge_dir)
    doc = json.loads((edge_dir / "metrics.json").read_text())
    row = doc["conformal"]["results"]["0.9"]["lac_randomized"]["models"]["fer-mini-xception"]
    row["at_interval_edge"], row["coverage_procedure"]["mc_error"] = True, 0.0004
    (edge_dir / "metrics.json").write_text(json.dumps(doc))
    edged = render_run_dir(edge_dir, thumbnails=False)
    edged = edged[edged.index('id="section-conformal"') :]
    assert "(edge)</small>" in edged and "fer-mini-xception (0.04 points)" in edged
    head_rows = res.metrics["conformal"]["results"]["0.9"]["lac_randomized"]
    any_edge = any(r.get("at_interval_edge") for k in ("models", "ensembles") for r in head_rows[k].values())
    assert ("(edge)</small>" in part) == any_edge
    # re-rendered in a fresh interpreter (nothing imported but the report): every section is still there
    code = f"from ferbench.report.html import render_run_dir; print(render_run_dir({str(res.out)!r}, False))"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'id="section-conformal"' in fresh and fresh.count('id="section-') == html.count('id="section-')


def test_cli_run_with_conformal_levels(fer2013_root, model_store, tmp_path):
    from test_uncertainty_predict import ferbench

    base = ["run", "--dataset", "fer2013-images", "--data-root", str(fer2013_root), "--models", "fer-mini-xception",
            "--model-store", str(model_store), "--split", "PrivateTest", "--limit", "40"]  # fmt: skip
    bad = ferbench(*base, "--out", str(tmp_path / "bad"), "--calibrate-on", "PublicTest", "--conformal", "90")
    assert bad.returncode == 2 and "--conformal 90.0 is outside (0, 1)" in bad.stderr
    assert not (tmp_path / "bad" / "metrics.json").exists()  # refused before any work
    ok = ferbench(*base, "--out", str(tmp_path / "ok"), "--calibrate-on", "PublicTest",
                  "--conformal", "0.9", "--conformal", "0.8")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "90 % prediction sets" in ok.stdout and "80 % prediction sets" in ok.stdout
    m = json.loads((tmp_path / "ok" / "metrics.json").read_text())
    assert m["conformal"]["levels"] == [0.9, 0.8] and m["n_samples"] == 40
    assert m["provenance"]["calibration"]["n_faces"] == 40


def test_ferplus_folders_valid_to_test_with_vote_only_faces(model_store, tmp_path):
    images = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ferplus-images"
    res = run("ferplus", data_root=images, out=tmp_path / "run", models="fer-mini-xception",
              model_store=model_store, split="test", calibrate_on="valid", conformal=0.9, limit=400)  # fmt: skip
    m = res.metrics
    c = m["conformal"]
    assert c["calibration"]["split"] == "valid" and c["calibration"]["n_faces"] == 400
    assert m["calibration"]["temperature_protocol"]["status"] == "fitted"  # FER+ gets a temperature now
    row = c["results"]["0.9"]["lac"]["models"]["fer-mini-xception"]
    assert row["n"] == m["n_samples"] <= 400
    people = row["people"]
    # faces whose votes tie have no label: no coverage against a label, but they are in the people view
    assert c["n_vote_only_faces"] > 0
    assert people["n_faces"] == m["n_samples"] + c["n_vote_only_faces"]
    assert people["majority_coverage"]["n"] < people["n_faces"]  # ties for first place have no majority label
    assert -1 <= people["size_vs_entropy"]["spearman"] <= 1
