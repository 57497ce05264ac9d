"""Each model gets its authors' crop of the same detected face: one detection per image, many crops.

The stored predictions of a ``--faces`` run are checked against the model run by hand on the crop its card
declares (and, with YuNet at full resolution, against the reference vectors upstream's own code produced);
``--shared-crop`` gives every model the run's crop instead; on pre-cropped faces a model that needs
landmarks gets the plain resize and ``metrics.json`` says so; a detector without landmarks is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from test_faces_stage import photo_folder

from ferbench.api import run
from ferbench.datasets import load_dataset
from ferbench.engine import EngineOptions, PredictionStore, run_models
from ferbench.errors import FerbenchError
from ferbench.faces import FaceStageConfig, cut, get_detector, prepare_face_stage
from ferbench.faces.prep import prepare_face
from ferbench.models import Adapter, get_card

MBF = "opencv-zoo-mobilefacenet-fer-int8"
OMZ = "omz-emotions-recognition-retail-0003"
SHARED = "fer-mini-xception"
MODELS = f"{MBF},{OMZ},{SHARED}"
P_COLS = ["p_neutral", "p_happy", "p_sad", "p_surprise", "p_fear", "p_disgust", "p_anger", "p_contempt"]


def _probs(preds: pd.DataFrame, sample_id: str, model_id: str) -> np.ndarray:
    row = preds[(preds["sample_id"] == sample_id) & (preds["model_id"] == model_id)]
    assert len(row) == 1, (sample_id, model_id)
    return row[P_COLS].to_numpy(dtype=float)[0]


def test_every_model_gets_its_own_crop_of_one_detection(
    tmp_path: Path, reference_dir: Path, model_store: Path
) -> None:
    data = photo_folder(reference_dir, tmp_path / "photos")
    res = run(
        "fer2013-images",
        data_root=data,
        out=tmp_path / "run",
        models=MODELS,
        model_store=model_store,
        faces="yunet",
        multi_face="all",
        write_report=False,
    )
    preds = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert set(preds["variant"]) == {"face:yunet:largest".replace("largest", "all")}
    det = get_detector("yunet", model_store)  # the stage's detector, at its default max_side
    img = cv2.imread(str(data / "test/happy/multi_face.jpg"))
    faces = det.detect(img)
    assert len(faces) == 5
    crops_seen = {}
    for mid in (MBF, OMZ, SHARED):
        card = get_card(mid)
        adapter = Adapter(card, model_store)
        for f in faces:
            crop = cut(img, f) if mid == SHARED else prepare_face(img, f, card.face_prep)
            crops_seen.setdefault(mid, []).append(crop.shape)
            want = adapter.to_canonical(adapter.predict([crop]))[0]
            got = _probs(preds, f"test/happy/multi_face.jpg#face{f.index}", mid)
            np.testing.assert_allclose(got, want, atol=1e-9, equal_nan=True)
    # ...and they really are different crops of the same face.
    assert crops_seen[MBF][0] == (112, 112, 3) and crops_seen[OMZ][0] != crops_seen[SHARED][0]
    models = res.metrics["models"]
    assert models[MBF]["face_prep"] == {
        "declared": "align5",
        "applied": "align5",
        "description": get_card(MBF).face_prep.describe(),
        "note": None,
    }
    assert models[OMZ]["face_prep"]["applied"] == "square_box"
    assert models[SHARED]["face_prep"]["applied"] == "shared"
    assert res.metrics["provenance"]["faces"]["crops"][MBF].startswith("align5:112")


def test_full_resolution_stage_reproduces_upstream_reference(
    tmp_path: Path, reference_dir: Path, model_store: Path
) -> None:
    """The run's own pipeline (stage + engine), with YuNet at full resolution, gives upstream's vectors."""
    data = tmp_path / "imgs"
    (data / "test" / "happy").mkdir(parents=True)
    for n in ("0-f1-su-ph", "multi_face", "single_face"):
        (data / "test" / "happy" / f"{n}.jpg").write_bytes(
            (reference_dir / "images" / f"{n}.jpg").read_bytes()
        )
    ds = load_dataset("fer2013-images", data)
    cards = [get_card(MBF), get_card(OMZ)]
    cfg = FaceStageConfig("yunet", "all", max_side=0)
    stage = prepare_face_stage(ds, cfg, tmp_path / "run", model_store=model_store, cards=cards)
    store = PredictionStore(tmp_path / "run")
    opts = EngineOptions(variant=stage.variant)
    run_models(
        stage.dataset,
        cards,
        store,
        model_store=model_store,
        options=opts,
        transform=stage.transform,
        crops=stage.crops,
    )
    preds = store.read()
    table = stage.dataset.samples.set_index("sample_id")
    checked = 0
    for card, key in ((cards[0], "aligned"), (cards[1], "boxed")):
        ref = json.loads((reference_dir / "outputs" / str(card.reference_outputs)).read_text())
        for entry in ref[key]:
            if entry["image"].removesuffix(".jpg") not in ("0-f1-su-ph", "multi_face", "single_face"):
                continue
            base = f"test/happy/{entry['image']}"
            cand = table[table["source_id"] == base]
            sid = (cand[["det_x", "det_y", "det_w", "det_h"]] - entry["yunet"][:4]).abs().sum(axis=1).idxmin()
            scores = np.array(entry["scores"], dtype=float)
            want = (
                np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
                if card.output == "logits"
                else scores
            )
            got = _probs(preds, sid, card.id)
            canon = np.array([got[P_COLS.index(f"p_{c}")] for c in card.canonical_classes])
            np.testing.assert_allclose(canon, want, atol=1e-4)
            checked += 1
    assert checked == 2 * 7  # 1 + 5 + 1 faces for each model


def test_shared_crop_gives_every_model_the_runs_crop(
    tmp_path: Path, reference_dir: Path, model_store: Path
) -> None:
    data = photo_folder(reference_dir, tmp_path / "photos")
    res = run(
        "fer2013-images",
        data_root=data,
        out=tmp_path / "run",
        models=f"{MBF},{SHARED}",
        model_store=model_store,
        faces="yunet",
        own_crops=False,
        write_report=False,
    )
    preds = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert set(preds["variant"]) == {"face:yunet:largest:shared"}
    img = cv2.imread(str(data / "test/surprise/0-f1-su-ph.jpg"))
    face = get_detector("yunet", model_store).detect(img)[0]
    adapter = Adapter(get_card(MBF), model_store)
    want = adapter.to_canonical(adapter.predict([cut(img, face)]))[0]
    np.testing.assert_allclose(
        _probs(preds, "test/surprise/0-f1-su-ph.jpg", MBF), want, atol=1e-9, equal_nan=True
    )
    note = res.metrics["models"][MBF]["face_prep"]
    assert note["applied"] == "shared" and "--shared-crop" in note["note"]


def test_pre_cropped_faces_get_the_plain_resize_and_say_so(
    tmp_path: Path, fer2013_root: Path, model_store: Path
) -> None:
    res = run(
        "fer2013-images",
        data_root=fer2013_root,
        out=tmp_path / "run",
        models=f"{MBF},{OMZ}",
        split="test",
        limit=6,
        model_store=model_store,
        write_report=False,
    )
    preds = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    sample = res.dataset.samples.iloc[0]
    img, _ = res.dataset.read(sample["sample_id"], sample["path"])
    adapter = Adapter(get_card(MBF), model_store)
    want = adapter.to_canonical(adapter.predict([img]))[0]  # the 48 px face resized to 112, no alignment
    np.testing.assert_allclose(_probs(preds, sample["sample_id"], MBF), want, atol=1e-9, equal_nan=True)
    rec = res.metrics["models"][MBF]["face_prep"]
    assert rec["applied"] == "resize" and "pre-cropped" in rec["note"] and "plain resize" in rec["note"]


@pytest.mark.parametrize("detector", ["haar", "rfb320"])
def test_alignment_without_landmarks_is_refused_with_the_fix(
    detector: str, tmp_path: Path, reference_dir: Path, model_store: Path
) -> None:
    data = photo_folder(reference_dir, tmp_path / "photos")
    with pytest.raises(FerbenchError) as exc:
        run(
            "fer2013-images",
            data_root=data,
            out=tmp_path / "run",
            models=f"{SHARED},{MBF}",
            model_store=model_store,
            faces=detector,
            write_report=False,
        )
    msg = str(exc.value)
    assert "\n" not in msg and MBF in msg and "--faces yunet" in msg and "--shared-crop" in msg
    assert not (tmp_path / "run" / "faces").exists()  # refused before detection


def test_perturbations_apply_to_each_models_own_crop(
    tmp_path: Path, reference_dir: Path, model_store: Path
) -> None:
    from ferbench.perturb.registry import apply

    data = photo_folder(reference_dir, tmp_path / "photos")
    run(
        "fer2013-images",
        data_root=data,
        out=tmp_path / "run",
        models=f"{MBF},{SHARED}",
        model_store=model_store,
        faces="yunet",
        perturb="blur:3",
        write_report=False,
    )
    from ferbench.engine import PredictionStore

    preds = PredictionStore(tmp_path / "run").read([MBF])
    blurred = preds[preds["variant"] == "face:yunet:largest+blur:3"]
    sid = "test/angry/15-f13-anc-ph.jpg"
    img = cv2.imread(str(data / sid))
    face = get_detector("yunet", model_store).detect(img)[0]
    adapter = Adapter(get_card(MBF), model_store)
    crop = apply(prepare_face(img, face, get_card(MBF).face_prep), "blur:3", sample_id=sid)
    want = adapter.to_canonical(adapter.predict([crop]))[0]
    np.testing.assert_allclose(_probs(blurred, sid, MBF), want, atol=1e-9, equal_nan=True)


def test_cli_face_max_side_0_detects_at_full_resolution_and_gives_the_authors_vectors(
    tmp_path: Path, reference_dir: Path, model_store: Path
) -> None:
    # the user-facing path to the references: `run --faces yunet --face-max-side 0` keys its own variant and
    # its aligned and boxed models give the vectors upstream's code gave on the posed one-face photos
    from typer.testing import CliRunner

    from ferbench.cli import app

    data = photo_folder(reference_dir, tmp_path / "photos")
    out = tmp_path / "run"
    args = ["run", "--dataset", "fer2013-images", "--data-root", str(data), "--out", str(out), "--models",
            f"{MBF},{OMZ}", "--model-store", str(model_store), "--faces", "yunet", "--face-max-side", "0"]  # fmt: skip
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    preds = pd.read_parquet(out / "predictions.parquet")
    assert set(preds["variant"]) == {"face:yunet:largest:s0"}
    checked = 0
    for card, key in ((get_card(MBF), "aligned"), (get_card(OMZ), "boxed")):
        ref = json.loads((reference_dir / "outputs" / str(card.reference_outputs)).read_text())
        for entry in ref[key]:
            hit = preds[
                preds["sample_id"].str.endswith("/" + entry["image"]) & (preds["model_id"] == card.id)
            ]
            if entry["image"] == "multi_face.jpg" or hit.empty:
                continue
            scores = np.array(entry["scores"], dtype=float)
            want = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
            if card.output != "logits":
                want = scores
            got = hit[P_COLS].to_numpy(dtype=float)[0]
            canon = np.array([got[P_COLS.index(f"p_{c}")] for c in card.canonical_classes])
            np.testing.assert_allclose(canon, want, atol=1e-4)
            checked += 1
    assert checked >= 6
    bad = CliRunner().invoke(app, [*args[:-1], "-1", "--out", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "--face-max-side -1 must be 0" in str(bad.exception)  # main() prints it
    assert not (tmp_path / "bad" / "metrics.json").exists()
