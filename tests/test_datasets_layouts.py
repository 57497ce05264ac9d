"""One layout test per loader: a fixture with the dataset's documented folder and file naming, built in tmp from
real FER2013 face crops, read back with labels, splits and every metadata column checked."""

from __future__ import annotations

import csv
import logging

import numpy as np
import pandas as pd
import pytest
from corpus import copy_faces, emognition_questionnaire, faces, save_as, write_json, write_video
from PIL import Image

from ferbench.datasets import load_dataset
from ferbench.datasets.base import EmptyDatasetError, loader_options
from ferbench.errors import DatasetError, SampleError


def _read_all(ds):
    return [ds.read(r.sample_id, r.path)[0] for r in ds.samples.itertuples()]


# ---------------------------------------------------------------- AffectNet (full release)


def _affectnet_row(sub, code, box=(10, 12, 30, 28), va=(0.5, -0.25)):
    lm = ";".join(f"{v:.2f}" for v in np.linspace(1, 136, 136))
    return [sub, *map(str, box), lm, str(code), str(va[0]), str(va[1])]


def test_affectnet_full_release(tmp_path, fer2013_root, caplog):
    root = tmp_path / "AffectNet"
    imgs = root / "Manually_Annotated" / "Manually_Annotated_Images"
    src = faces(fer2013_root, "happy", 3) + faces(fer2013_root, "sad", 2)
    subs = ["1/aa01.jpg", "1/aa02.jpg", "2/bb01.jpg", "2/bb02.jpg", "3/cc01.jpg"]
    for s, f in zip(subs, src, strict=True):
        copy_faces([f], (imgs / s).parent, [(imgs / s).name])
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir()
    header = [
        "subDirectory_filePath",
        "face_x",
        "face_y",
        "face_width",
        "face_height",
        "facial_landmarks",
        "expression",
        "valence",
        "arousal",
    ]
    with open(lists / "training.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerow(_affectnet_row(subs[0], 1))
        w.writerow(_affectnet_row(subs[1], 7, box=(0, 0, 48, 48)))
        w.writerow(_affectnet_row(subs[2], 8, va=(-2, -2)))  # None
        w.writerow(_affectnet_row(subs[3], 10, va=(-2, -2)))  # No-Face
        w.writerow(_affectnet_row("9/missing.jpg", 2))  # listed, not on disk
    with open(lists / "validation.csv", "w", newline="") as f:  # the released file has no header row
        w = csv.writer(f)
        w.writerow(_affectnet_row(subs[4], 2))
        w.writerow(_affectnet_row("3/cc02.jpg", 9))  # Uncertain
        w.writerow(_affectnet_row("3/cc03.jpg", 11))  # not a code
    with caplog.at_level(logging.WARNING, logger="ferbench.datasets"):
        ds = load_dataset("affectnet", root)
    assert "4 entries excluded" in caplog.text
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == ["1/aa01.jpg", "1/aa02.jpg", "9/missing.jpg", "3/cc01.jpg"]
    assert list(s.label) == ["happy", "contempt", "sad", "sad"]
    assert list(s.split) == ["training"] * 3 + ["validation"]
    assert len(ds.select("test")) == 1 and ds.select("test").samples.sample_id.iloc[0] == "3/cc01.jpg"
    assert s.loc["1/aa02.jpg", ["face_x", "face_y", "face_w", "face_h"]].tolist() == [0, 0, 48, 48]
    assert s.loc["1/aa01.jpg", "valence"] == 0.5 and s.loc["1/aa01.jpg", "arousal"] == -0.25
    assert len(s.loc["1/aa01.jpg", "facial_landmarks"].split(";")) == 136
    assert s.loc["9/missing.jpg", "stamp"] == "missing"
    assert ds.exclusion_counts() == {"non_expression": 3, "unknown_label": 1}
    ex = ds.excluded.set_index("where")
    assert ex.loc["Manually_Annotated_file_lists/training.csv:4", "orig_label"] == "None"
    assert ex.loc["Manually_Annotated_file_lists/validation.csv:2", "orig_label"] == "Uncertain"
    assert "'11'" in ex.loc["Manually_Annotated_file_lists/validation.csv:3", "detail"]
    img, _ = ds.read("1/aa01.jpg", s.loc["1/aa01.jpg", "path"])
    assert img.shape == (48, 48, 3)
    with pytest.raises(SampleError, match="missing.jpg: file not found"):
        ds.read("9/missing.jpg", s.loc["9/missing.jpg", "path"])


def test_affectnet_8_class_release(tmp_path, fer2013_root):
    root = tmp_path / "affectnet8"
    src = faces(fer2013_root, "fear", 3)
    for set_name, ids, codes in (("train_set", ["0", "17"], ["4", "0"]), ("val_set", ["5"], ["6"])):
        ann = root / set_name / "annotations"
        ann.mkdir(parents=True)
        for i, c in zip(ids, codes, strict=True):
            np.save(ann / f"{i}_exp.npy", np.array(c))  # the release stores codes as strings
            np.save(ann / f"{i}_val.npy", np.array("0.3"))
            np.save(ann / f"{i}_aro.npy", np.array("-0.1"))
            np.save(ann / f"{i}_lnd.npy", np.arange(136, dtype=np.float32))
        copy_faces(src[: len(ids)], root / set_name / "images", [f"{i}.jpg" for i in ids])
        src = src[len(ids) :]
    copy_faces(faces(fer2013_root, "fear", 1, 5), root / "val_set" / "images", ["99.jpg"])  # no annotation
    ds = load_dataset("affectnet-8", root)
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == ["train_set/0", "train_set/17", "val_set/5"]
    assert list(s.label) == ["fear", "neutral", "anger"]
    assert list(s.split_group) == ["train", "train", "test"]
    assert s.loc["train_set/0", "valence"] == pytest.approx(0.3)
    assert s.loc["train_set/0", "facial_landmarks"].split(";")[:3] == ["0", "1", "2"]
    assert ds.exclusion_counts() == {"missing_label": 1}
    assert len(_read_all(ds)) == 3


# ---------------------------------------------------------------- RAF-DB


def _rafdb(root, fer2013_root, compound=False):
    names = (
        ["train_00001.jpg", "train_00002.jpg", "test_0001.jpg"]
        if not compound
        else ["train_0001.jpg", "test_0001.jpg", "test_0002.jpg"]
    )
    codes = ["5", "4", "7"] if not compound else ["1", "10", "11"]
    src = faces(fer2013_root, "sad", 3)
    (root / "EmoLabel").mkdir(parents=True)
    lines = [f"{n} {c}" for n, c in zip(names, codes, strict=True)] + [
        "train_00003.jpg 9",
        "test_0009.jpg 4",
        "Train-0004.jpg 3",
    ]
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for n, f in zip(names, src, strict=True):
        stem = n[:-4]
        save_as(f, root / "Image" / "aligned" / f"{stem}_aligned.jpg", (100, 100))
        save_as(f, root / "Image" / "original" / n, (120, 140))
        man = root / "Annotation" / "manual" / f"{stem}_manu_attri.txt"
        man.parent.mkdir(parents=True, exist_ok=True)
        man.write_text("30.1\t40.2\n70.3\t40.4\n50.5\t60.6\n35.7\t80.8\n65.9\t80.0\n1\n2\n3\n")
        box = root / "Annotation" / "boundingbox" / f"{stem}_boundingbox.txt"
        box.parent.mkdir(parents=True, exist_ok=True)
        box.write_text("10.0 20.0 90.0 120.0\n")
    return names


def test_rafdb_basic(tmp_path, fer2013_root):
    root = tmp_path / "RAF-DB" / "basic"
    _rafdb(root, fer2013_root)
    ds = load_dataset("rafdb", tmp_path / "RAF-DB")  # found one folder down
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == ["train_00001.jpg", "train_00002.jpg", "test_0001.jpg", "test_0009.jpg"]
    assert list(s.label) == ["sad", "happy", "neutral", "happy"]
    assert list(s.split) == ["train", "train", "test", "test"]
    assert s.loc["train_00001.jpg", "path"].endswith("Image/aligned/train_00001_aligned.jpg")
    row = s.loc["train_00001.jpg"]
    assert (row.gender, row.race, row.age_group) == ("female", "Asian", "40-69")
    assert row.landmarks_5.split(";")[0] == "30.1,40.2"
    assert "face_x" not in s.columns  # the box is in original-image coordinates
    assert s.loc["test_0009.jpg", "stamp"] == "missing"
    assert ds.exclusion_counts() == {"bad_name": 1, "unknown_label": 1}
    assert _read_all(ds.select("train"))[0].shape == (100, 100, 3)
    orig = load_dataset("rafdb", root, images="original").samples.set_index("sample_id")
    assert orig.loc["test_0001.jpg", ["face_x", "face_y", "face_w", "face_h"]].tolist() == [10, 20, 80, 100]
    assert orig.loc["test_0001.jpg", "path"].endswith("Image/original/test_0001.jpg")
    with pytest.raises(DatasetError, match="images must be 'aligned' or 'original'"):
        load_dataset("rafdb", root, images="cropped")


def test_rafdb_compound(tmp_path, fer2013_root):
    root = tmp_path / "RAF-DB"
    _rafdb(root / "compound", fer2013_root, compound=True)
    _rafdb(root / "basic", fer2013_root)
    ds = load_dataset("rafdb-compound", root)  # picks compound/, not basic/
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == [
        "train_0001.jpg",
        "test_0001.jpg",
        "test_0002.jpg",
        "train_00003.jpg",
        "test_0009.jpg",
    ]
    assert list(s.compound_label) == [
        "Happily Surprised",
        "Angrily Disgusted",
        "Disgustedly Surprised",
        "Angrily Surprised",
        "Sadly Angry",
    ]
    assert list(s.label) == ["happy", "anger", "disgust", "anger", "sad"]
    assert list(s.label_alt) == ["surprise", "disgust", "surprise", "surprise", "anger"]
    second = load_dataset("rafdb-compound", root, component="second").samples
    assert list(second.label) == ["surprise", "disgust", "surprise", "surprise", "anger"]
    assert ds.exclusion_counts() == {"bad_name": 1}
    assert s.loc["train_0001.jpg", "age_group"] == "40-69"


# ---------------------------------------------------------------- Emognition


def test_emognition_one_sample_per_clip_with_self_reports(tmp_path, fer2013_root):
    root = tmp_path / "emognition"
    movies = ["NEUTRAL", "AMUSEMENT", "AWE", "FEAR", "BASELINE"]
    for pid in (22, 23):
        write_json(root / str(pid) / f"{pid}_questionnaires.json", emognition_questionnaire(pid, movies))
    write_video(root / "videos" / "22_AMUSEMENT.mp4", faces(fer2013_root, "happy", 3))
    write_video(root / "22" / "22_FEAR.mp4", faces(fer2013_root, "fear", 2))
    ds = load_dataset("emognition", root)
    s = ds.samples.set_index("sample_id")
    assert sorted(s.index) == [
        "22/AMUSEMENT",
        "22/FEAR",
        "22/NEUTRAL",
        "23/AMUSEMENT",
        "23/FEAR",
        "23/NEUTRAL",
    ]
    assert s.loc["22/AMUSEMENT", "label"] == "happy" and s.loc["22/FEAR", "label"] == "fear"
    assert s.loc["22/AMUSEMENT", "path"].endswith("videos/22_AMUSEMENT.mp4")
    assert s.loc["22/FEAR", "stamp"] != "missing" and s.loc["23/FEAR", "stamp"] == "missing"
    assert set(s.media) == {"video"}
    row = s.loc["22/AMUSEMENT"]
    assert (row.participant, row.movie, row.age, row.gender) == ("22", "AMUSEMENT", 21, "male")
    assert (row.sr_valence, row.sr_arousal, row.sr_motivation) == (2, 8, 5)
    assert row.sr_amusement == 2 and row.sr_sadness == 1 + (1 + 8) % 5
    assert ds.exclusion_counts() == {"no_canonical_label": 4}  # AWE and BASELINE for both participants
    with pytest.raises(SampleError, match="22_AMUSEMENT.mp4: is a video clip") as err:
        ds.read("22/AMUSEMENT", s.loc["22/AMUSEMENT", "path"])
    assert err.value.reason == "video_clip"
    happy = load_dataset("emognition", root, positive_as_happy=True, label_map="BASELINE=neutral").samples
    assert set(happy.loc[happy.movie == "AWE", "label"]) == {"happy"}
    assert set(happy.loc[happy.movie == "BASELINE", "label"]) == {"neutral"}


# ---------------------------------------------------------------- CK+ and CK+48


def _ckplus(root, fer2013_root):
    imgs = root / "extended-cohn-kanade-images" / "cohn-kanade-images"
    seqs = {
        ("S005", "001"): (faces(fer2013_root, "disgust", 3), "3.0000000e+00"),
        ("S010", "002"): (faces(fer2013_root, "happy", 4), "   5.0000000e+00"),
        ("S011", "001"): (faces(fer2013_root, "sad", 2), None),  # unlabelled sequence
        ("S014", "003"): (faces(fer2013_root, "angry", 2), "9.0000000e+00"),
    }  # invalid code
    for (subj, seq), (src, code) in seqs.items():
        for k, f in enumerate(src, start=1):
            save_as(f, imgs / subj / seq / f"{subj}_{seq}_{k:08d}.png")
        last = f"{subj}_{seq}_{len(src):08d}"
        if code is not None:
            e = root / "Emotion_labels" / "Emotion" / subj / seq / f"{last}_emotion.txt"
            e.parent.mkdir(parents=True, exist_ok=True)
            e.write_text(f"{code}\n")
        facs = root / "FACS_labels" / "FACS" / subj / seq / f"{last}_facs.txt"
        facs.parent.mkdir(parents=True, exist_ok=True)
        facs.write_text("   9.0000000e+00   0.0000000e+00\n   1.7000000e+01   2.0000000e+00\n")


def test_ckplus_peak_frames_and_optional_neutral_onsets(tmp_path, fer2013_root):
    root = tmp_path / "CK+"
    _ckplus(root, fer2013_root)
    ds = load_dataset("ckplus", root)
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == ["S005/001/S005_001_00000003.png", "S010/002/S010_002_00000004.png"]
    assert list(s.label) == ["disgust", "happy"]
    assert list(s.subject) == ["S005", "S010"] and list(s.frame) == [3, 4]
    assert s.iloc[0].facs == "9:0;17:2"
    assert ds.exclusion_counts() == {"unknown_label": 1}
    with_onsets = load_dataset("ckplus", root, first_frame_neutral=True).samples.set_index("sample_id")
    assert with_onsets.loc["S010/002/S010_002_00000001.png", "label"] == "neutral"
    assert with_onsets.loc["S010/002/S010_002_00000001.png", "role"] == "onset"
    assert len(with_onsets) == 4
    assert _read_all(ds)[0].shape == (48, 48, 3)


def test_ckplus48_folders(tmp_path, fer2013_root):
    root = tmp_path / "CK+48"
    for folder, cls in (
        ("anger", "angry"),
        ("contempt", "neutral"),
        ("sadness", "sad"),
        ("surprise", "surprise"),
    ):
        copy_faces(faces(fer2013_root, cls, 2), root / folder, [f"S0{i}5_001_0000001{i}.png" for i in (1, 2)])
    ds = load_dataset("ckplus48", tmp_path)  # found one folder down
    assert ds.labels == ("sad", "surprise", "anger", "contempt")
    s = ds.samples.set_index("sample_id")
    assert s.loc["contempt/S015_001_00000011.png", "subject"] == "S015"
    assert s.loc["contempt/S015_001_00000011.png", "frame"] == 11


# ---------------------------------------------------------------- JAFFE, KDEF, ExpW


def test_jaffe_file_names(tmp_path, fer2013_root):
    root = tmp_path / "jaffe" / "jaffedbase"
    names = [
        "KA.AN1.39.tiff",
        "KL.HA2.30.tiff",
        "YM.SU3.60.tiff",
        "NA.NE1.202.tiff",
        "KM.XX1.1.tiff",
        "README.tiff",
    ]
    for n, f in zip(names, faces(fer2013_root, "neutral", 6), strict=True):
        save_as(f, root / n)
    (root / "README_FIRST.txt").write_text("not an image")
    ds = load_dataset("jaffe", tmp_path / "jaffe")
    s = ds.samples.set_index("sample_id")
    assert list(s.label) == ["anger", "happy", "neutral", "surprise"]
    row = s.loc["jaffedbase/KL.HA2.30.tiff"]
    assert (row.poser, row.orig_label, row.repetition, row.image_number) == ("KL", "HA", 2, 30)
    assert ds.exclusion_counts() == {"bad_name": 1, "unknown_label": 1}
    assert Image.open(s.path.iloc[0]).format == "TIFF" and _read_all(ds)[0].shape == (48, 48, 3)


def test_kdef_file_names_and_pose(tmp_path, fer2013_root):
    root = tmp_path / "KDEF"
    names = {
        "AF01": ["AF01ANS.JPG", "AF01AFHL.JPG", "AF01SUFR.JPG"],
        "BM21": ["BM21DIFL.JPG", "BM21HAHR.JPG"],
    }
    src = iter(faces(fer2013_root, "surprise", 7))
    for folder, files in names.items():
        for n in files:
            save_as(next(src), root / folder / n.replace(".JPG", ".jpg")).rename(root / folder / n)
    save_as(next(src), root / "BM21" / "BM21XXS.jpg")  # unknown expression code
    save_as(next(src), root / "BM21" / "BM21 HAS copy.jpg")  # not KDEF naming
    ds = load_dataset("kdef", root)
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == [
        "AF01/AF01AFHL.JPG",
        "AF01/AF01ANS.JPG",
        "AF01/AF01SUFR.JPG",
        "BM21/BM21DIFL.JPG",
        "BM21/BM21HAHR.JPG",
    ]
    assert list(s.label) == ["fear", "anger", "surprise", "disgust", "happy"]
    assert list(s.pose) == ["half_left", "straight", "full_right", "full_left", "half_right"]
    assert s.loc["BM21/BM21DIFL.JPG", ["session", "sex", "subject"]].tolist() == ["B", "male", "M21"]
    assert list(ds.select("straight").samples.sample_id) == ["AF01/AF01ANS.JPG"]
    assert ds.exclusion_counts() == {"bad_name": 1, "unknown_label": 1}


def test_expw_faces_with_boxes(tmp_path, fer2013_root):
    root = tmp_path / "ExpW" / "data"
    src = faces(fer2013_root, "happy", 2)
    for n, f in zip(["afraid_african_214.jpg", "angry_asian_12.jpg"], src, strict=True):
        save_as(f, root / "image" / "origin" / n, (200, 160))
    (root / "label").mkdir(parents=True)
    (root / "label" / "label.lst").write_text(
        "afraid_african_214.jpg 0 20 30 90 110 52.1 2\n"
        "afraid_african_214.jpg 1 25 100 170 140 33.0 3\n"
        "angry_asian_12.jpg 0 10 10 60 60 80.5 0\n"
        "angry_asian_12.jpg 1 10 10 60 60 80.5 7\n"
        "gone.jpg 0 1 2 3 4 5.0 6\n"
        "broken line\n"
    )
    ds = load_dataset("expw", tmp_path / "ExpW")
    s = ds.samples.set_index("sample_id")
    assert list(s.index) == [
        "afraid_african_214.jpg#0",
        "afraid_african_214.jpg#1",
        "angry_asian_12.jpg#0",
        "gone.jpg#0",
    ]
    assert list(s.label) == ["fear", "happy", "anger", "neutral"]
    r = s.loc["afraid_african_214.jpg#0"]
    assert [r.face_x, r.face_y, r.face_w, r.face_h, r.face_confidence] == [30, 20, 60, 90, 52.1]
    assert ds.exclusion_counts() == {"malformed_line": 1, "unknown_label": 1}
    assert s.loc["gone.jpg#0", "stamp"] == "missing"


# ---------------------------------------------------------------- any folder, any manifest


def test_image_folder_with_splits_and_label_map(tmp_path, fer2013_root):
    root = tmp_path / "mine"
    copy_faces(faces(fer2013_root, "happy", 2), root / "train" / "smiling")
    copy_faces(faces(fer2013_root, "sad", 2), root / "train" / "Sadness")
    copy_faces(faces(fer2013_root, "neutral", 1), root / "test" / "other")
    copy_faces(faces(fer2013_root, "happy", 1, 3), root / "test" / "smiling" / "sub")
    with pytest.raises(EmptyDatasetError, match="no usable images") as err:
        load_dataset("image-folder", root / "train" / "smiling")
    assert err.value.excluded.empty
    plain = load_dataset("image-folder", root)
    assert plain.exclusion_counts() == {"unknown_label": 4}  # smiling/ and other/ map nowhere
    mapfile = tmp_path / "map.csv"
    mapfile.write_text("native,canonical\nsmiling,happy\nother,exclude\n")
    ds = load_dataset("image-folder", root, label_map=mapfile)
    assert ds.exclusion_counts() == {"excluded_by_map": 1}
    s = ds.samples
    assert sorted(s.split.unique()) == ["test", "train"]
    assert s.groupby(["split", "label"]).size().to_dict() == {
        ("test", "happy"): 1,
        ("train", "happy"): 2,
        ("train", "sad"): 2,
    }
    inline = load_dataset("image-folder", root, label_map="smiling=joy,other=-")
    assert list(inline.samples.label) == list(s.label)
    with pytest.raises(DatasetError, match="'smiling' -> 'grin' is not a canonical label"):
        load_dataset("image-folder", root, label_map="smiling=grin")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_manifest_with_groups(tmp_path, fer2013_root, fmt):
    root = tmp_path / "study"
    files = copy_faces(faces(fer2013_root, "angry", 2) + faces(fer2013_root, "happy", 2), root / "imgs")
    table = pd.DataFrame(
        {
            "path": [f"imgs/{f.name}" for f in files] + ["imgs/none.jpg", f"imgs/{files[0].name}"],
            "label": ["mad", "mad", "happy", "grin", "happy", "mad"],
            "split": ["a", "a", "b", "b", "b", "a"],
            "subject": ["p1", "p1", "p2", "p3", "p4", "p1"],
            "stamp": ["x"] * 6,  # clashes with a reserved column: kept as manifest_stamp
        }
    )
    mpath = root / f"labels.{fmt}"
    table.to_csv(mpath, index=False) if fmt == "csv" else table.to_parquet(mpath)
    ds = load_dataset("manifest", mpath, label_map={"mad": "anger"})
    s = ds.samples.set_index("sample_id")
    assert list(s.label) == ["anger", "anger", "happy", "happy"]
    assert list(s.subject) == ["p1", "p1", "p2", "p4"] and set(s.manifest_stamp) == {"x"}
    assert s.loc["imgs/none.jpg", "stamp"] == "missing"
    assert ds.exclusion_counts() == {"duplicate_entry": 1, "unknown_label": 1}
    assert ds.excluded.set_index("reason").loc["unknown_label", "orig_label"] == "grin"
    with pytest.raises(DatasetError, match="no 'emotion' column"):
        load_dataset("manifest", mpath, label_column="emotion")


def test_unknown_loader_option_lists_the_options(tmp_path):
    with pytest.raises(DatasetError, match=r"no option colour \(its options: images\)"):
        load_dataset("rafdb", tmp_path, colour=True)
    assert loader_options("emognition") == {
        "label_map": None,
        "positive_as_happy": False,
        "video_pattern": "{participant}_{movie}",
        "fps": None,
    }


def test_emognition_frames_for_the_video_stage(tmp_path, fer2013_root):
    pytest.importorskip("ferbench.datasets.video", reason="the video stage ships in its own branch")
    root = tmp_path / "emognition"
    write_json(
        root / "22" / "22_questionnaires.json", emognition_questionnaire(22, ["AMUSEMENT", "FEAR", "ANGER"])
    )
    write_video(root / "22" / "22_AMUSEMENT.mp4", faces(fer2013_root, "happy", 5), fps=5)  # 10 frames, 2 s
    (root / "22" / "22_FEAR.mp4").write_bytes(b"not a video at all")
    ds = load_dataset("emognition", root, fps=2)
    s = ds.samples.set_index("sample_id")
    amuse = s[s.clip_id == "22/AMUSEMENT"]
    assert list(amuse.index) == [f"22/AMUSEMENT#f{k:05d}" for k in range(4)]
    assert list(amuse.frame_time) == [0.0, 0.5, 1.0, 1.5]
    assert set(amuse.label) == {"happy"} and set(amuse.sr_valence) == {1}
    frame, _ = ds.read("22/AMUSEMENT#f00002", amuse.path.iloc[2])
    assert frame.shape == (64, 64, 3)
    for clip in ("22/FEAR", "22/ANGER"):  # corrupt, and missing: one failing sample each
        (sid,) = s.index[s.clip_id == clip]
        with pytest.raises(SampleError) as err:
            ds.read(sid, s.loc[sid, "path"])
        assert s.loc[sid, "path"].split("/")[-1] in str(err.value)
