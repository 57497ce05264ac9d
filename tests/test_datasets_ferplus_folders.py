"""FER+'s own folder layout (PNGs + label.csv per split) on real FER+ faces, and what it does with bad input.

Small fixtures are copies of real rows and PNGs from ``shared/data/ferplus-images``; expected values come from
reading the same files with pandas, not from the loader.
"""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferbench.datasets import load_dataset
from ferbench.datasets.ferplus import VOTE_COLUMNS, derive_labels, load_ferplus_votes
from ferbench.labels import to_canonical

N_FIXTURE = 40


@pytest.fixture(scope="module")
def images_root(ferplus_images_root: Path) -> Path:
    return ferplus_images_root


def _raw(path: Path) -> pd.DataFrame:
    """label.csv as pandas reads it (the oracle): name, box, the ten vote columns."""
    df = pd.read_csv(path, header=None, names=["name", "box", *VOTE_COLUMNS])
    df["name"] = df["name"].str.strip()
    return df


def _copy_fixture(src: Path, dst: Path, n: int = N_FIXTURE) -> list[list[str]]:
    """The first ``n`` rows of a real label.csv with their PNGs (and fer2013_label.csv rows) under ``dst``."""
    dst.mkdir(parents=True)
    with open(src / "label.csv", newline="") as f:
        rows = [r for _, r in zip(range(n), csv.reader(f), strict=False)]
    for r in rows:
        shutil.copy(src / r[0], dst / r[0])
    _write_rows(dst / "label.csv", rows)
    lab = pd.read_csv(src / "fer2013_label.csv")
    lab[lab["image"].isin([r[0] for r in rows])].to_csv(dst / "fer2013_label.csv", index=False)
    return rows


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def test_both_placements_and_split_aliases(images_root: Path, tmp_path: Path) -> None:
    _copy_fixture(images_root / "FER2013Test", tmp_path / "a" / "FER2013Test")
    _copy_fixture(images_root / "FER2013Valid", tmp_path / "a" / "FER2013Valid")
    shutil.copytree(tmp_path / "a", tmp_path / "b" / "data")
    a = load_dataset("ferplus", tmp_path / "a")
    b = load_dataset("ferplus", tmp_path / "b")
    cols = ["sample_id", "label", "split", *VOTE_COLUMNS]
    pd.testing.assert_frame_equal(a.samples[cols], b.samples[cols])
    assert set(a.samples["split"]) == {"PrivateTest", "PublicTest"}
    for alias, name in (("test", "PrivateTest"), ("valid", "PublicTest")):
        assert a.select(alias).samples["sample_id"].tolist() == a.select(name).samples["sample_id"].tolist()
        assert set(a.select(alias).samples["split"]) == {name}
    # every voted face is either a sample (label under the rule) or vote-only (e.g. tied votes)
    raw = _raw(tmp_path / "a" / "FER2013Test" / "label.csv")
    expected = derive_labels(raw.rename(columns={"name": "image_name"}))
    test = a.select("test")
    assert len(test) + len(test.vote_only) == (raw[[c for c in VOTE_COLUMNS[:8]]].sum(axis=1) > 0).sum()
    got = dict(zip(test.samples["image_name"].str.split("/").str[1], test.samples["label"], strict=True))
    assert got == {n: lab for n, lab in zip(raw["name"], expected, strict=True) if lab is not None}
    assert test.vote_only["label"].isna().all()


def test_votes_join_by_file_name_not_row_or_number(images_root: Path, tmp_path: Path) -> None:
    rows = _copy_fixture(images_root / "FER2013Test", tmp_path / "FER2013Test")
    rng = np.random.default_rng(0)
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    # a PNG renamed to a number far from its neighbours keeps its own votes
    first = shuffled[0][0]
    (tmp_path / "FER2013Test" / first).rename(tmp_path / "FER2013Test" / "fer0099999.png")
    shuffled[0] = ["fer0099999.png", *shuffled[0][1:]]
    _write_rows(tmp_path / "FER2013Test" / "label.csv", shuffled)
    ds = load_dataset("ferplus", tmp_path)
    both = pd.concat([ds.samples, ds.vote_only])
    by_name = {r[0]: [int(x) for x in r[2:]] for r in shuffled}
    for _, s in both.iterrows():
        name = s["image_name"].split("/")[1]
        assert [int(s[c]) for c in VOTE_COLUMNS] == by_name[name]
        assert Path(s["path"]).name == name
    img, _ = ds.read(both.iloc[0]["sample_id"], both.iloc[0]["path"])
    assert img.shape == (48, 48, 3)


def test_fer2013_label_joined_by_name(images_root: Path, tmp_path: Path) -> None:
    _copy_fixture(images_root / "FER2013Test", tmp_path / "FER2013Test")
    ref = pd.read_csv(tmp_path / "FER2013Test" / "fer2013_label.csv", keep_default_na=False)
    ref = ref.sample(frac=1.0, random_state=1)  # order must not matter
    ref.to_csv(tmp_path / "FER2013Test" / "fer2013_label.csv", index=False)
    ds = load_dataset("ferplus", tmp_path)
    both = pd.concat([ds.samples, ds.vote_only])
    expected = {
        n: (to_canonical(x) if x else None) for n, x in zip(ref["image"], ref["fer2013_label"], strict=True)
    }
    got = dict(zip(both["image_name"].str.split("/").str[1], both["fer2013_label"], strict=True))
    assert got == expected
    assert "anger" in set(got.values())  # FER2013's 'angry' in ferbench's name


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda r: r[:11], "malformed_line"),
        (lambda r: [*r, "1"], "malformed_line"),
        (lambda r: [*r[:2], "-1", *r[3:]], "bad_votes"),
        (lambda r: [*r[:2], "two", *r[3:]], "bad_votes"),
        (lambda r: [*r[:2], "2.5", *r[3:]], "bad_votes"),
        (lambda r: ["face7.png", *r[1:]], "bad_name"),
    ],
)
def test_a_bad_row_is_excluded_with_file_and_line(
    images_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, edit, reason: str
) -> None:  # type: ignore[no-untyped-def]
    rows = _copy_fixture(images_root / "FER2013Test", tmp_path / "FER2013Test")
    label_csv = tmp_path / "FER2013Test" / "label.csv"
    good = load_dataset("ferplus", tmp_path)
    n_good = len(good) + len(good.vote_only)
    bad_name = rows[4][0]
    rows[4] = edit(rows[4])
    _write_rows(label_csv, rows)
    with caplog.at_level(logging.WARNING, logger="ferbench.datasets"):
        ds = load_dataset("ferplus", tmp_path)
    ex = ds.excluded
    mine = ex[ex["reason"] == reason]
    assert len(mine) == 1 and mine.iloc[0]["where"] == f"{label_csv}:5"
    assert str(label_csv) in caplog.text and reason in caplog.text
    both = pd.concat([ds.samples, ds.vote_only])
    assert len(both) == n_good - 1  # the run goes on with the other faces
    assert f"FER2013Test/{bad_name}" not in set(both["sample_id"])
    if reason != "bad_name":  # its PNG has a row (a bad one): not reported as unlisted as well
        assert (ex["reason"] == "unlisted_image").sum() == 0
    assert ds.exclusion_counts()[reason] == 1


def test_missing_png_unlisted_png_and_name_listed_twice(images_root: Path, tmp_path: Path) -> None:
    rows = _copy_fixture(images_root / "FER2013Test", tmp_path / "FER2013Test")
    folder = tmp_path / "FER2013Test"
    (folder / rows[0][0]).unlink()  # a name with no PNG
    shutil.copy(folder / rows[1][0], folder / "fer0099998.png")  # a PNG with no row
    dup = [rows[2][0], rows[2][1], *["0"] * 9, "10"]  # FER+'s fer0033120.png case: a second row, other votes
    _write_rows(folder / "label.csv", [*rows, dup])
    ds = load_dataset("ferplus", tmp_path)
    ex = ds.excluded
    assert ds.exclusion_counts() == {"duplicate_name": 2, "missing_image": 1, "unlisted_image": 1}
    assert ex.loc[ex["reason"] == "missing_image", "where"].tolist() == [f"{folder / 'label.csv'}:1"]
    assert ex.loc[ex["reason"] == "unlisted_image", "where"].tolist() == [str(folder / "fer0099998.png")]
    assert ex.loc[ex["reason"] == "duplicate_name", "where"].tolist() == [
        f"{folder / 'label.csv'}:3",
        f"{folder / 'label.csv'}:{len(rows) + 1}",
    ]
    assert "listed 2 times" in ex.loc[ex["reason"] == "duplicate_name", "detail"].iloc[0]
    both = set(pd.concat([ds.samples, ds.vote_only])["sample_id"])
    assert not {f"FER2013Test/{rows[i][0]}" for i in (0, 2)} & both
    kept = [r for i, r in enumerate(rows) if i not in (0, 2)]
    assert both == {f"FER2013Test/{r[0]}" for r in kept if sum(map(int, r[2:10])) > 0}
    assert "1 listed image(s) missing" in ds.description
    # the vote table alone (``ferbench humans``) leaves the same rows out
    votes = load_ferplus_votes(tmp_path)
    assert f"FER2013Test/{rows[2][0]}" not in set(votes["image_name"])


def test_limit_draws_the_same_samples_with_vote_only_faces(images_root: Path, tmp_path: Path) -> None:
    _copy_fixture(images_root / "FER2013Test", tmp_path / "FER2013Test", n=200)
    ds = load_dataset("ferplus", tmp_path)
    assert len(ds.vote_only) > 0
    sub = ds.select("test", limit=50, seed=3)
    expected = ds.samples.sample(n=50, random_state=3).sort_index()["sample_id"].tolist()
    assert sub.samples["sample_id"].tolist() == expected
    assert set(sub.vote_only["sample_id"]) <= set(ds.vote_only["sample_id"])
    scored = sub.with_vote_only()
    assert len(scored) == len(sub) + len(sub.vote_only) and scored.labels == ds.labels


def test_real_ferplus_test_split_counts(images_root: Path) -> None:
    ds = load_dataset("ferplus", images_root).select("test")
    raw = _raw(images_root / "FER2013Test" / "label.csv")
    assert len(raw) == 3573 and ds.excluded.empty
    assert len(ds) + len(ds.vote_only) == 3573  # every test face has at least one expression vote
    majority = load_dataset("ferplus", images_root, label_rule="majority").select("test")
    assert len(majority) == 3137
    assert majority.samples["label"].value_counts().to_dict() == {
        "neutral": 1083,
        "happy": 892,
        "surprise": 394,
        "sad": 382,
        "anger": 269,
        "fear": 86,
        "disgust": 16,
        "contempt": 15,
    }  # fmt: skip  (SOURCE.txt's counts, from FER+'s paper's rule)
    both = pd.concat([ds.samples, ds.vote_only])
    assert both["fer2013_label"].notna().sum() == 3569
