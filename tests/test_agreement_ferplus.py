"""FER+ votes: the loader on the real vote file, the join to a generated fer2013.csv, and human agreement."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import krippendorff
import numpy as np
import pandas as pd
import pytest
from _agreement_data import N_ROWS, write_fer2013_csv
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss
from typer.testing import CliRunner

from ferbench.cli import app
from ferbench.datasets import load_dataset
from ferbench.datasets.ferplus import (
    VOTE_COLUMNS,
    VOTE_LABELS,
    derive_labels,
    load_ferplus_votes,
    vote_matrix,
)
from ferbench.errors import DatasetError
from ferbench.metrics.humans import human_agreement, model_vs_humans, plurality


@pytest.fixture(scope="module")
def votes(ferplus_root: Path) -> pd.DataFrame:
    return load_ferplus_votes(ferplus_root)


def test_real_vote_file_shape_and_splits(votes: pd.DataFrame, ferplus_root: Path) -> None:
    raw = pd.read_csv(ferplus_root / "fer2013new.csv")
    assert len(votes) == len(raw) == 35887
    assert votes["split"].value_counts().to_dict() == {
        "Training": 28709,
        "PublicTest": 3589,
        "PrivateTest": 3589,
    }
    assert np.array_equal(votes["row"], np.arange(len(raw)))  # joined by row position
    assert np.array_equal(votes[list(VOTE_COLUMNS)].to_numpy(), raw.iloc[:, 2:].to_numpy())
    assert votes["image_name"].isna().sum() == raw["Image name"].isna().sum()


def test_label_csv_layout_reads_the_same_faces(
    votes: pd.DataFrame, ferplus_root: Path, tmp_path: Path
) -> None:
    shutil.copytree(ferplus_root / "data", tmp_path / "data")
    lab = load_ferplus_votes(tmp_path)
    assert lab["split"].value_counts().to_dict() == {
        "Training": 28558,
        "PublicTest": 3579,
        "PrivateTest": 3573,
    }
    assert lab["image_name"].iloc[0].startswith("FER2013Train/fer")
    assert (lab["row"] == -1).all()  # label.csv carries no row position
    with pytest.raises(DatasetError, match="none of the .* images named in label.csv exist"):
        load_dataset("ferplus", tmp_path)


def test_plurality_rule_against_pandas(votes: pd.DataFrame) -> None:
    v = votes[[f"votes_{x}" for x in VOTE_LABELS]]
    top = v.max(axis=1)
    ties = (v.eq(top, axis=0)).sum(axis=1) > 1
    expected = v.idxmax(axis=1).str[6:].where(~ties & (top > 0))
    got = derive_labels(votes, "plurality")
    assert (got.fillna("-") == expected.fillna("-")).all()
    assert np.array_equal(plurality(v.to_numpy()) >= 0, expected.notna().to_numpy())


def test_majority_rule_follows_ferplus_paper() -> None:
    df = pd.DataFrame(
        [[6, 1, 1, 1, 0, 0, 0, 0, 1, 0], [4, 4, 0, 0, 0, 0, 0, 0, 2, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
         [3, 0, 0, 0, 0, 0, 0, 0, 7, 0], [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]],
        columns=list(VOTE_COLUMNS),
    )  # fmt: skip
    assert list(derive_labels(df, "majority")) == ["neutral", None, None, None, None]
    assert list(derive_labels(df, "plurality")) == ["neutral", None, None, "neutral", None]


def test_human_agreement_cross_checked_on_real_votes(votes: pd.DataFrame) -> None:
    v = vote_matrix(votes[votes["split"] == "PrivateTest"])
    res = human_agreement(v, VOTE_LABELS, n_resamples=200)
    voted = v[v.sum(axis=1) > 0]
    ref_alpha = krippendorff.alpha(value_counts=voted, level_of_measurement="nominal")
    assert res["krippendorff_alpha"]["value"] == pytest.approx(ref_alpha, abs=1e-10)
    assert res["n_without_votes"] == int((v.sum(axis=1) == 0).sum()) > 0
    # faces with all ten votes on expression labels: Fleiss' kappa in its original, equal-raters form
    ten = voted[voted.sum(axis=1) == 10]
    sub = human_agreement(ten, VOTE_LABELS, n_resamples=0)
    assert sub["fleiss_kappa"]["value"] == pytest.approx(sm_fleiss(ten), abs=1e-12)
    assert 0.3 < res["fleiss_kappa"]["value"] < 0.8
    assert res["fleiss_kappa"]["ci_low"] < res["fleiss_kappa"]["value"] < res["fleiss_kappa"]["ci_high"]
    json.dumps(res, allow_nan=False)


def test_model_vs_humans_against_direct_computation(votes: pd.DataFrame) -> None:
    v = vote_matrix(votes.iloc[:2000])
    rng = np.random.default_rng(0)
    plur = plurality(v)
    pred = np.where(rng.random(len(v)) < 0.6, np.maximum(plur, 0), rng.integers(0, 8, len(v)))
    pred[:5] = -1  # the model failed on five faces
    res = model_vs_humans(v, pred, VOTE_LABELS, n_resamples=100)
    ok = (pred >= 0) & (v.sum(axis=1) > 0)
    has = ok & (plur >= 0)
    assert res["n_faces"] == ok.sum()
    assert res["plurality_accuracy"]["value"] == pytest.approx(np.mean(pred[has] == plur[has]))
    soft = [v[i, pred[i]] / v[i].sum() for i in np.flatnonzero(ok)]
    assert res["soft_accuracy"]["value"] == pytest.approx(np.mean(soft))
    with_model = v[ok].copy()
    with_model[np.arange(ok.sum()), pred[ok]] += 1
    ref = krippendorff.alpha(value_counts=with_model, level_of_measurement="nominal")
    assert res["alpha_with_model"]["value"] == pytest.approx(ref, abs=1e-10)


def test_humans_command_on_real_vote_file(ferplus_root: Path) -> None:
    r = CliRunner().invoke(app, ["humans", "--dataset", "ferplus", "--data-root", str(ferplus_root), "--json",
                                 "--resamples", "100"])  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert set(doc["splits"]) == {"Training", "PublicTest", "PrivateTest"}
    assert doc["overall"]["n_faces"] == 35887
    assert (
        sum(doc["overall"]["plurality_counts"].values())
        + doc["overall"]["n_tied"]
        + doc["overall"]["n_without_votes"]
        == 35887
    )
    assert doc["non_expression_votes"] == {"unknown": 16964, "nf": 1943}
    table = CliRunner().invoke(app, ["humans", "--data-root", str(ferplus_root), "--resamples", "0"])
    assert table.exit_code == 0 and "Fleiss" in table.output and "PrivateTest" in table.output


def test_ferplus_dataset_joins_pixels_by_row(
    votes: pd.DataFrame,
    ferplus_root: Path,
    fer2013_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_fer2013_csv(tmp_path / "fer2013.csv", votes, fer2013_root)
    ds = load_dataset("ferplus", ferplus_root, pixels=tmp_path / "fer2013.csv")
    expected = derive_labels(votes.iloc[:N_ROWS])
    assert len(ds) == expected.notna().sum() < N_ROWS  # the not-a-face row(s) have no label
    s = ds.samples
    assert list(s["label"]) == list(expected.dropna())
    assert np.array_equal(
        s[list(VOTE_COLUMNS)].to_numpy(), votes.loc[s["row"], list(VOTE_COLUMNS)].to_numpy()
    )
    img, _ = ds.read(s["sample_id"].iloc[0], s["path"].iloc[0])
    assert img.shape == (48, 48, 3)
    # rows that disagree on Usage mean misaligned files
    bad = (tmp_path / "fer2013.csv").read_text().replace(",Training\n", ",PublicTest\n", 1)
    (tmp_path / "bad.csv").write_text(bad)
    with pytest.raises(DatasetError, match="not aligned row by row"):
        load_dataset("ferplus", ferplus_root, pixels=tmp_path / "bad.csv")
    with pytest.raises(DatasetError, match="needs the original fer2013.csv"):
        load_dataset("ferplus", ferplus_root, pixels=tmp_path / "missing.csv")
    monkeypatch.setenv("FERBENCH_FER2013_CSV", str(tmp_path / "fer2013.csv"))
    assert load_dataset("ferplus", ferplus_root).samples["sample_id"].tolist() == s["sample_id"].tolist()
    majority = load_dataset("ferplus", ferplus_root, label_rule="majority").samples
    assert list(majority["label"]) == list(derive_labels(votes.iloc[:N_ROWS], "majority").dropna())


def test_no_votes_gives_nulls_not_errors() -> None:
    v = np.zeros((4, 8), dtype=int)
    res = human_agreement(v, VOTE_LABELS)
    assert (
        res["fleiss_kappa"]["value"] is None
        and "no face has an annotator vote" in res["fleiss_kappa"]["reason"]
    )
    assert res["n_without_votes"] == 4 and res["votes_per_face"] is None
    m = model_vs_humans(v, np.zeros(4, dtype=int), VOTE_LABELS)
    assert m["n_faces"] == 0 and m["soft_accuracy"]["value"] is None
    json.dumps([res, m], allow_nan=False)


def test_label_csv_layout_with_generated_pngs(ferplus_root: Path, fer2013_root: Path, tmp_path: Path) -> None:
    """FER+'s own layout after its generation script: label.csv with the PNGs it names in the same folder."""
    lines = (ferplus_root / "data" / "FER2013Test" / "label.csv").read_text().splitlines()[:12]
    folder = tmp_path / "data" / "FER2013Test"
    folder.mkdir(parents=True)
    (folder / "label.csv").write_text("\n".join(lines) + "\n")
    faces = sorted((fer2013_root / "test").glob("*/*.jpg"))[:12]
    for line, face in zip(lines[:-1], faces, strict=False):  # the last listed PNG is missing on purpose
        cv2.imwrite(str(folder / line.split(",")[0]), cv2.imread(str(face), cv2.IMREAD_GRAYSCALE))
    ds = load_dataset("ferplus", tmp_path)
    votes = load_ferplus_votes(tmp_path)
    expected = derive_labels(votes.iloc[:-1]).dropna()  # the face without its PNG is excluded
    assert list(ds.samples["label"]) == list(expected)
    assert ds.exclusion_counts() == {"missing_image": 1}
    assert set(ds.samples["split"]) == {"PrivateTest"}
    row = ds.samples.iloc[0]
    img, _ = ds.read(row["sample_id"], row["path"])
    assert img.ndim == 3 and img.shape[:2] == (48, 48)
    assert "missing" in ds.description
