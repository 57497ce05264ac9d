"""``ferbench datasets check`` on the bad-input corpus: every kind of problem is reported, by file and reason."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from corpus import bad_images, copy_faces, emognition_questionnaire, faces, write_json, write_video
from typer.testing import CliRunner

from ferbench import api
from ferbench.cli import app
from ferbench.datasets import load_dataset
from ferbench.datasets.check import check, check_dataset
from ferbench.errors import DatasetError

runner = CliRunner()


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory, fer2013_root):
    root = tmp_path_factory.mktemp("corpus") / "faces"
    kinds = bad_images(root / "happy", fer2013_root)
    copy_faces(faces(fer2013_root, "sad", 2), root / "sad")
    (root / "sad" / "same_as_grey.jpg").write_bytes(kinds["grey"].read_bytes())  # duplicate, other label
    copy_faces(faces(fer2013_root, "neutral", 1), root / "bored")  # class folder with no canonical label
    return root


def _json(args):
    res = runner.invoke(app, ["datasets", "check", *args, "--json"])
    return res.exit_code, json.loads(res.stdout)


def test_corpus_every_bad_kind_is_reported(corpus_root):
    code, rep = _json(["image-folder", "--data-root", str(corpus_root)])
    assert code == 1
    assert rep["n_samples"] == 14
    bad = {r["sample_id"]: r for r in rep["unreadable"]}
    assert {k: v["reason"] for k, v in bad.items()} == {
        "happy/bomb.png": "too_large",
        "happy/notes.jpg": "unreadable",
        "happy/truncated.jpg": "truncated",
        "happy/zero.jpg": "empty_file",
    }
    assert all(str(corpus_root / k) in v["detail"] for k, v in bad.items())  # each message names its file
    assert [u["orig_label"] for u in rep["unmapped"]] == ["bored"]
    assert "maps to no canonical label" in rep["unmapped"][0]["detail"]
    (dup,) = rep["duplicates"]
    assert dup["sample_ids"] == ["happy/grey.jpg", "sad/same_as_grey.jpg"] and dup["conflicting_labels"]
    # grey and colour, palette, alpha, CMYK and 16-bit files are all decodable, and their modes are listed
    assert {"L", "RGB", "RGBA", "P", "CMYK"} <= set(rep["modes"]) and any(
        m.startswith("I") for m in rep["modes"]
    )
    assert rep["problems"] == {"unmapped_labels": 1, "unreadable_files": 4, "duplicate_groups": 1}
    assert rep["notes"][0].startswith("grey and colour images are mixed (5 grey, 5 colour)")
    assert rep["notes"][1].startswith("1 images carry an EXIF rotation")
    assert rep["counts"] == {"all": {"happy": 11, "sad": 3}}


def test_corpus_human_output_names_files(corpus_root):
    res = runner.invoke(
        app, ["datasets", "check", "image-folder", "--data-root", str(corpus_root)], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 1
    for text in ("truncated.jpg", "too_large", "empty_file", "bored", "unreadable_files 4", "colour modes"):
        assert text in res.stdout
    mapped = runner.invoke(
        app,
        [
            "datasets",
            "check",
            "image-folder",
            "--data-root",
            str(corpus_root),
            "--label-map",
            "bored=neutral",
            "--json",
        ],
    )
    assert json.loads(mapped.stdout)["counts"]["all"]["neutral"] == 1


def test_label_file_with_unknown_codes_and_missing_images(tmp_path, fer2013_root):
    root = tmp_path / "basic"
    (root / "EmoLabel").mkdir(parents=True)
    names = ["train_00001.jpg", "train_00002.jpg", "test_0001.jpg"]
    copy_faces(
        faces(fer2013_root, "happy", 2),
        root / "Image" / "aligned",
        [n.replace(".jpg", "_aligned.jpg") for n in names[:2]],
    )
    (root / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 4\ntrain_00002.jpg 12\ntest_0001.jpg 7\ntrain_00001.jpg 4\n"
    )
    code, rep = _json(["rafdb", "--data-root", str(root)])
    assert code == 1
    assert [(u["where"], u["orig_label"]) for u in rep["unmapped"]] == [
        ("EmoLabel/list_patition_label.txt:2", "12")
    ]
    assert [m["sample_id"] for m in rep["missing_files"]] == ["test_0001.jpg"]
    assert rep["excluded"] == {"duplicate_entry": 1, "unknown_label": 1}
    assert rep["counts"] == {"test": {"neutral": 1}, "train": {"happy": 1}}


def test_empty_datasets_are_a_finding(tmp_path):
    (tmp_path / "folder" / "happy").mkdir(parents=True)
    code, rep = _json(["image-folder", "--data-root", str(tmp_path / "folder")])
    assert code == 1 and rep["empty"] and rep["problems"] == {"empty_dataset": 1}
    assert "has no usable images in class folders" in rep["message"]
    (tmp_path / "raf" / "EmoLabel").mkdir(parents=True)
    (tmp_path / "raf" / "Image" / "aligned").mkdir(parents=True)
    (tmp_path / "raf" / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 0\n")
    rep2 = check("rafdb", tmp_path / "raf")
    assert rep2.empty and rep2.unmapped[0]["where"] == "EmoLabel/list_patition_label.txt:1"
    assert "1 entries excluded: unknown_label: 1;" in rep2.message
    with pytest.raises(DatasetError, match="has no usable"):
        load_dataset("image-folder", tmp_path / "folder")


def test_videos_corrupt_and_missing(tmp_path, fer2013_root):
    root = tmp_path / "emo"
    write_json(
        root / "30" / "30_questionnaires.json", emognition_questionnaire(30, ["NEUTRAL", "FEAR", "ANGER"])
    )
    write_video(root / "30" / "30_NEUTRAL.mp4", faces(fer2013_root, "neutral", 2))
    (root / "30" / "30_FEAR.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    rep = check("emognition", root)
    assert rep.modes == {"video": 1}
    assert [(r["sample_id"], r["reason"]) for r in rep.unreadable] == [("30/FEAR", "unreadable")]
    assert "30_FEAR.mp4: not a decodable video" in rep.unreadable[0]["detail"]
    assert [m["sample_id"] for m in rep.missing_files] == ["30/ANGER"]


def test_clean_subset_passes_and_loader_errors_are_one_line(tmp_path, fer2013_root):
    root = tmp_path / "clean"
    copy_faces(faces(fer2013_root, "happy", 3), root / "happy")
    copy_faces(faces(fer2013_root, "fear", 3), root / "fear")
    res = runner.invoke(app, ["datasets", "check", "image-folder", "--data-root", str(root)])
    assert res.exit_code == 0 and "no problems found" in res.stdout
    rep = check_dataset(load_dataset("image-folder", root), decode=False)
    assert rep.decoded is False and rep.problems == {}
    bad = runner.invoke(app, ["datasets", "check", "rafdb", "--data-root", str(root), "-o", "images=grey"])
    assert isinstance(bad.exception, DatasetError) and "images must be" in str(bad.exception)


def test_run_on_the_corpus_records_each_failure_and_goes_on(tmp_path, corpus_root, model_store):
    res = api.run(
        "image-folder",
        data_root=corpus_root,
        out=tmp_path / "run",
        models="fer-mini-xception",
        model_store=model_store,
        write_report=False,
    )
    rows = pd.read_parquet(res.predictions_path).set_index("sample_id")
    assert rows.loc["happy/bomb.png", "status"] == "too_large"
    assert rows.loc["happy/truncated.jpg", "status"] == "truncated"
    assert rows.loc["happy/zero.jpg", "status"] == "empty_file"
    assert rows.loc["happy/notes.jpg", "status"] == "unreadable"
    ok = rows[rows.status == "ok"]
    assert (
        len(ok) == 10 and ok["top_label"].notna().all()
    )  # CMYK, 16-bit, palette, alpha, EXIF, grey, colour…
    assert "bored" not in " ".join(rows.index)
