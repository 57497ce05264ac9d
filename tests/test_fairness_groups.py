"""Group metrics on real model predictions: hand computation with pandas, bootstrap, gaps, flags, bad input.

The fixture is a CSV manifest of 240 real FER2013 test images with MADE-UP group columns (see
``tests/_fairness_fixtures.py``); the numbers say nothing about any real group of people.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from _fairness_fixtures import MODELS, manifest_dataset, pick_images, write_manifest
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score, f1_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from ferbench import api
from ferbench.errors import FerbenchError
from ferbench.metrics.agreement import count_statistics
from ferbench.metrics.bootstrap import compress
from ferbench.metrics.groups import MISSING_GROUP, group_metrics, parse_groups, weighted_macro_f1


@pytest.fixture(scope="module")
def run(tmp_path_factory, fer2013_root, model_store):
    tmp = tmp_path_factory.mktemp("fairness")
    write_manifest(fer2013_root, tmp / "manifest.csv")
    ds = manifest_dataset(tmp / "manifest.csv")
    return api.run(
        ds, out=tmp / "run", models=MODELS, model_store=model_store, groups="cohort,age_band,cohort+age_band"
    )


@pytest.fixture(scope="module")
def table(run) -> pd.DataFrame:
    """predictions.parquet: one row per (sample, model), the hand computation's input."""
    p = pd.read_parquet(run.predictions_path)
    return p


def _restricted_pred(table: pd.DataFrame, labels: list[str]) -> pd.Series:
    """The label-set rule by hand: arg-max over the evaluated labels' probability columns."""
    probs = table[[f"p_{lab}" for lab in labels]]
    return probs.idxmax(axis=1).str.removeprefix("p_")


def test_group_accuracy_and_f1_match_pandas(run, table):
    labels = list(run.dataset.labels)
    t = table.assign(pred=_restricted_pred(table, labels))
    t["correct"] = t["pred"] == t["label"]
    sec = run.metrics["fairness"]["groupings"]["cohort"]
    acc = t.groupby(["model_id", "cohort"])["correct"].mean()
    n = t.groupby(["model_id", "cohort"]).size()
    for mid in MODELS.split(","):
        for g in ("A", "B", "C"):
            got = sec["models"][mid]["by_group"][g]
            assert got["n_scored"] == n[(mid, g)]
            assert got["accuracy"]["value"] == pytest.approx(acc[(mid, g)], abs=1e-12)
            sub = t[(t.model_id == mid) & (t.cohort == g)]
            # macro-F1 by hand: per label present in the group, 2TP / (2TP + FP + FN), then the mean
            f1s = []
            for lab in sorted(sub["label"].unique()):
                tp = ((sub.pred == lab) & (sub.label == lab)).sum()
                fp = ((sub.pred == lab) & (sub.label != lab)).sum()
                fn = ((sub.pred != lab) & (sub.label == lab)).sum()
                f1s.append(2 * tp / (2 * tp + fp + fn))
            assert got["macro_f1"]["value"] == pytest.approx(np.mean(f1s), abs=1e-12)
            assert got["failure_rate"]["value"] == 0.0
            lo, hi = got["accuracy"]["ci"]
            assert lo <= got["accuracy"]["value"] <= hi and hi - lo > 0


def test_small_group_flagged_and_not_ranked(run, table):
    sec = run.metrics["fairness"]["groupings"]["cohort"]
    assert {g["group"]: g["small"] for g in sec["groups"]} == {"A": False, "B": False, "C": True}
    for mid in MODELS.split(","):
        gap = sec["models"][mid]["gap"]["accuracy"]
        assert gap["groups_compared"] == ["A", "B"]
        accs = {g: sec["models"][mid]["by_group"][g]["accuracy"]["value"] for g in ("A", "B")}
        assert gap["difference"]["value"] == pytest.approx(abs(accs["A"] - accs["B"]), abs=1e-12)
        assert gap["ratio"]["value"] == pytest.approx(min(accs.values()) / max(accs.values()), abs=1e-12)
        # Fairlearn's between-groups difference on the same (large) groups agrees
        t = table[(table.model_id == mid) & table.cohort.isin(["A", "B"])]
        pred = _restricted_pred(t, list(run.dataset.labels))
        mf = MetricFrame(
            metrics=accuracy_score, y_true=t["label"], y_pred=pred, sensitive_features=t["cohort"]
        )
        assert gap["difference"]["value"] == pytest.approx(mf.difference(method="between_groups"), abs=1e-12)
        assert gap["ratio"]["value"] == pytest.approx(mf.ratio(method="between_groups"), abs=1e-12)
        lo, hi = gap["difference"]["ci"]
        assert lo <= gap["difference"]["value"] <= hi
        assert sec["models"][mid]["by_group"]["C"]["small"] is True


def test_missing_values_form_their_own_group_and_intersection(run, table):
    sec = run.metrics["fairness"]["groupings"]
    groups = {g["group"]: g["n"] for g in sec["age_band"]["groups"]}
    assert groups[MISSING_GROUP] == 15
    assert sum(groups.values()) == run.metrics["n_samples"]
    inter = {g["group"]: g["n"] for g in sec["cohort+age_band"]["groups"]}
    first = table.drop_duplicates("sample_id")
    hand = first.assign(age=first["age_band"].replace("", MISSING_GROUP)).groupby(["cohort", "age"]).size()
    assert inter == {f"{c} | {a}": int(v) for (c, a), v in hand.items()}


def test_group_fleiss_kappa_matches_statsmodels(run, table):
    labels = list(run.dataset.labels)
    t = table.assign(pred=_restricted_pred(table, labels))
    sec = run.metrics["fairness"]["groupings"]["cohort"]["agreement"]["by_group"]
    for g in ("A", "B", "C"):
        wide = t[t.cohort == g].pivot(index="sample_id", columns="model_id", values="pred")
        codes = wide.apply(lambda c: c.map({lab: i for i, lab in enumerate(labels)})).to_numpy()
        counts, _ = aggregate_raters(codes, n_cat=len(labels))
        assert sec[g]["n_items"] == len(wide)
        assert sec[g]["fleiss_kappa"]["value"] == pytest.approx(sm_fleiss(counts), abs=1e-10)


def test_vectorised_bootstrap_matches_a_loop():
    """Per-pattern weights reproduce, resample by resample, what scikit-learn and statsmodels compute on the
    explicitly resampled items (the weights are derived here from an explicit index matrix)."""
    rng = np.random.default_rng(5)
    n, k = 90, 7
    yt = rng.integers(0, k, n)
    yp = np.where(rng.random(n) < 0.6, yt, rng.integers(0, k, n))
    idx = np.random.default_rng(1).integers(0, n, size=(50, n))
    pat = compress(np.stack([yt, yp], axis=1))
    w = np.stack([np.bincount(pat.inverse[i], minlength=len(pat.freq)) for i in idx])
    got = weighted_macro_f1(pat.rows[:, 0] * k + pat.rows[:, 1], w, k)
    want = [f1_score(yt[i], yp[i], labels=np.unique(yt[i]), average="macro", zero_division=0) for i in idx]
    np.testing.assert_allclose(got, want, atol=1e-12)
    raters = np.stack([yt, yp, np.where(rng.random(n) < 0.5, yt, yp)], axis=1)
    counts, _ = aggregate_raters(raters, n_cat=k)
    cpat = compress(counts)
    cw = np.stack([np.bincount(cpat.inverse[i], minlength=len(cpat.freq)) for i in idx])
    got_k = count_statistics(cpat.rows, cw)["fleiss_kappa"]
    np.testing.assert_allclose(got_k, [sm_fleiss(counts[i]) for i in idx], atol=1e-10)


def test_intervals_do_not_move_when_a_model_is_added():
    rng = np.random.default_rng(8)
    n = 400
    yt = rng.integers(0, 7, n)
    a = np.where(rng.random(n) < 0.6, yt, rng.integers(0, 7, n))
    b = np.where(rng.random(n) < 0.4, yt, rng.integers(-1, 7, n))
    keys = rng.choice(np.array(["x", "y", "z"], dtype=object), n)
    conf = rng.random((n, 2))
    alone = group_metrics(yt, a[:, None], keys, ["a"], 7, seed=1, confidence=conf[:, :1])
    both = group_metrics(yt, np.stack([a, b], 1), keys, ["a", "b"], 7, seed=1, confidence=conf)
    assert alone["models"]["a"] == both["models"]["a"]
    first = alone["models"]["a"]["by_group"]["x"]["accuracy"]
    assert first["n_undefined"] == 0 and first["ci"][0] < first["value"] < first["ci"][1]


def test_bootstrap_is_seeded_and_close_to_fairlearns():
    rng = np.random.default_rng(2)
    n = 300
    yt = rng.integers(0, 7, n)
    yp = np.where(rng.random(n) < 0.65, yt, rng.integers(0, 7, n))[:, None]
    keys = rng.choice(np.array(["x", "y"], dtype=object), n)
    a = group_metrics(yt, yp, keys, ["m"], 7, n_boot=2000, seed=3)
    b = group_metrics(yt, yp, keys, ["m"], 7, n_boot=2000, seed=3)
    assert a == b
    c = group_metrics(yt, yp, keys, ["m"], 7, n_boot=2000, seed=4)
    f1_a = a["models"]["m"]["by_group"]["x"]["macro_f1"]["ci"]
    assert c["models"]["m"]["by_group"]["x"]["macro_f1"]["ci"] != f1_a  # the seed is used
    mf = MetricFrame(
        metrics=accuracy_score,
        y_true=yt,
        y_pred=yp[:, 0],
        sensitive_features=pd.Series(keys, name="g"),
        n_boot=100,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    lo, hi = mf.by_group_ci
    for g in ("x", "y"):
        ours = a["models"]["m"]["by_group"][g]["accuracy"]
        assert ours["value"] == pytest.approx(mf.by_group[g])
        # Fairlearn resamples the whole table, we resample within groups: same interval up to Monte Carlo noise
        assert ours["ci"][0] == pytest.approx(lo[g], abs=0.05)
        assert ours["ci"][1] == pytest.approx(hi[g], abs=0.05)


def test_failed_samples_count_in_failure_rate_not_accuracy():
    yt = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    pred = np.array([[0, -1], [1, 1], [0, -1], [0, 0], [1, 1], [1, 0], [-1, 1], [1, 1]])
    keys = np.array(["a", "a", "a", "a", "b", "b", "b", "b"], dtype=object)
    r = group_metrics(yt, pred, keys, ["m1", "m2"], 2, min_size=1, n_boot=20)
    a = r["models"]["m1"]["by_group"]["a"]
    assert (a["n"], a["n_scored"], a["accuracy"]["value"], a["failure_rate"]["value"]) == (4, 4, 0.75, 0.0)
    b = r["models"]["m1"]["by_group"]["b"]
    assert (b["n_scored"], b["accuracy"]["value"], b["failure_rate"]["value"]) == (3, 2 / 3, 0.25)
    m2 = r["models"]["m2"]["by_group"]["a"]
    assert (m2["n_scored"], m2["failure_rate"]["value"]) == (2, 0.5)
    assert r["agreement"]["by_group"]["a"]["n_items"] == 2  # items both models scored


def test_abstention_rate_counts_scored_faces_below_the_threshold():
    """Hand computation: the share of each group's scored faces whose top probability is under 0.5."""
    yt = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    pred = np.array([[0, -1], [1, 1], [0, -1], [0, 0], [1, 1], [1, 0], [-1, 1], [1, 1]])
    conf = np.array(
        [[0.9, 0], [0.4, 0.7], [0.49, 0], [0.5, 0.3], [0.2, 0.6], [0.8, 0.55], [0, 0.1], [0.3, 0.9]]
    )
    keys = np.array(["a", "a", "a", "a", "b", "b", "b", "b"], dtype=object)
    r = group_metrics(yt, pred, keys, ["m1", "m2"], 2, min_size=1, n_boot=200, confidence=conf)
    m1, m2 = r["models"]["m1"], r["models"]["m2"]
    assert r["abstain_below"] == 0.5
    assert m1["by_group"]["a"]["abstention_rate"]["value"] == 0.5  # 0.4 and 0.49 of 0.9, 0.4, 0.49, 0.5
    assert m1["by_group"]["b"]["abstention_rate"]["value"] == pytest.approx(2 / 3)  # failed face not counted
    assert m2["by_group"]["a"]["abstention_rate"]["value"] == 0.5  # 0.3 of the two it scored
    assert m2["by_group"]["b"]["abstention_rate"]["value"] == 0.25
    assert m1["overall"]["abstention_rate"] == pytest.approx(4 / 7)
    gap = m1["gap"]["abstention_rate"]
    assert gap["difference"]["value"] == pytest.approx(2 / 3 - 0.5) and gap["highest_group"] == "b"
    lo, hi = m1["by_group"]["b"]["abstention_rate"]["ci"]
    assert 0 <= lo <= 2 / 3 <= hi <= 1
    plain = group_metrics(yt, pred, keys, ["m1", "m2"], 2, min_size=1, n_boot=20)
    assert "abstention_rate" not in plain["models"]["m1"]["by_group"]["a"] and "abstain_below" not in plain


def test_one_model_has_no_group_agreement_and_one_group_no_gap():
    yt = np.zeros(40, int)
    pred = np.zeros((40, 1), int)
    r = group_metrics(yt, pred, np.array(["only"] * 40, dtype=object), ["m"], 3, n_boot=10)
    assert r["agreement"]["reason"] == "agreement needs at least two models"
    assert r["models"]["m"]["gap"]["accuracy"]["difference"] is None
    assert "fewer than two groups" in r["models"]["m"]["gap"]["accuracy"]["reason"]


def test_parse_groups():
    assert parse_groups("a, b,a+b ,") == [["a"], ["b"], ["a", "b"]]
    assert parse_groups(None) == []


def test_unknown_group_column_is_a_clear_error(tmp_path, fer2013_root, model_store):
    write_manifest(fer2013_root, tmp_path / "m.csv", n=40)
    ds = manifest_dataset(tmp_path / "m.csv")
    with pytest.raises(FerbenchError) as e:
        api.run(ds, out=tmp_path / "r", models=MODELS, model_store=model_store, groups="cohort,gender")
    msg = str(e.value)
    assert "'gender'" in msg and "cohort" in msg and "age_band" in msg and "\n" not in msg
    assert not (tmp_path / "r" / "parts").exists()  # refused before any model ran


def test_id_like_group_column_is_refused(tmp_path, fer2013_root, model_store):
    write_manifest(fer2013_root, tmp_path / "m.csv", n=240)
    ds = manifest_dataset(tmp_path / "m.csv")
    with pytest.raises(FerbenchError, match="column 'sample_id' has 240 distinct values"):
        api.run(ds, out=tmp_path / "r", models=MODELS, model_store=model_store, groups="sample_id")


def test_cli_unknown_group_column_one_line(tmp_path, fer2013_root, model_store):
    root = tmp_path / "fer"  # a tiny FER2013-layout copy of 4 real test images, so the loader is quick
    for f in pick_images(fer2013_root, 4):
        dest = root / "test" / f.parent.name / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    out = subprocess.run(
        [sys.executable, "-m", "ferbench.cli", "run", "--dataset", "fer2013-images", "--data-root",
         str(root), "--model-store", str(model_store),
         "--out", str(tmp_path / "r"), "--groups", "ethnicity"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "'ethnicity'" in lines[0] and "orig_label" in lines[0]


def test_report_shows_group_table_and_figure(run):
    html = run.report_path.read_text()
    assert 'id="section-fairness"' in html
    assert "By cohort" in html and "accuracy gap" in html and ">small</span>" in html
    assert 'aria-label="accuracy by cohort per model with bootstrap intervals"' in html
    json.dumps(run.metrics, allow_nan=False)
