"""The two zoo models not trained on FER2013, pinned on their real weights with their authors' own crops.

``test_models_reference.py`` pins both on the 8 shared crops (``rows``). Here the full-image pipelines are
pinned too: YuNet at full resolution finds the faces of ``_reference/images``, then opencv_zoo's 5-point
alignment (MobileFaceNet, ``aligned``) and OMZ's square x1.2 box (``boxed``) cut each model's crop; the
reference vectors were made by upstream's own code. The OpenVINO runtime's bad-input messages are checked here.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferbench.errors import ModelError, WeightsMismatch
from ferbench.faces import get_detector
from ferbench.faces.prep import prepare_face, square_box_corners
from ferbench.faces.types import Face
from ferbench.models import create, get_card, resolve_models
from ferbench.models.cards import Artifact, ModelCard
from ferbench.models.runtime import OnnxSession

MBF = "opencv-zoo-mobilefacenet-fer-int8"
OMZ = "omz-emotions-recognition-retail-0003"
CASES = [(MBF, "aligned"), (OMZ, "boxed")]


def _ref(card: ModelCard, reference_dir: Path) -> dict:
    assert card.reference_outputs
    return json.loads((reference_dir / "outputs" / card.reference_outputs).read_text())


def _match(faces: list[Face], box: list[float]) -> Face:
    return min(faces, key=lambda f: float(np.abs(np.array(f.box) - np.array(box)).sum()))


@pytest.mark.parametrize(("model_id", "key"), CASES)
def test_full_image_pipeline_reproduces_upstream(
    model_id: str, key: str, model_store: Path, reference_dir: Path
) -> None:
    card = get_card(model_id)
    ref = _ref(card, reference_dir)
    det = get_detector("yunet", model_store, max_side=0)  # upstream runs YuNet at full resolution
    adapter = create(model_id, model_store, threads=1)
    crops, expected = [], []
    for entry in ref[key]:
        img = cv2.imread(str(reference_dir / "images" / entry["image"]), cv2.IMREAD_COLOR)
        face = _match(det.detect(img), entry["yunet"][:4])
        # ferbench's YuNet gives upstream's box and landmarks...
        np.testing.assert_allclose(face.box, entry["yunet"][:4], atol=1e-3)
        assert face.landmarks is not None
        np.testing.assert_allclose(face.landmarks.ravel(), entry["yunet"][4:14], atol=1e-3)
        if "crop_xyxy" in entry:
            assert list(square_box_corners(img.shape, face.box, card.face_prep.margin)) == entry["crop_xyxy"]
        crops.append(prepare_face(img, face, card.face_prep))
        expected.append(entry["scores"])
    assert len(crops) == 10  # 4 posed faces, 5 in the group photo, 1 single face
    got = adapter.scores(crops)
    np.testing.assert_allclose(got, np.array(expected), atol=1e-4, rtol=0)
    assert [card.classes[i] for i in got.argmax(axis=1)] == [e["top"] for e in ref[key]]


def test_ferbench_default_alignment_is_not_the_authors(model_store: Path, reference_dir: Path) -> None:
    """Why the card declares its own preparation: the run's shared aligned crop moves the logits a lot."""
    from ferbench.faces.crop import aligned_crop

    card = get_card(MBF)
    ref = _ref(card, reference_dir)
    adapter = create(MBF, model_store, threads=1)
    entry = ref["aligned"][0]
    img = cv2.imread(str(reference_dir / "images" / entry["image"]), cv2.IMREAD_COLOR)
    lm = np.array(entry["yunet"][4:14]).reshape(5, 2)
    shared = aligned_crop(img, lm, entry["yunet"][:4])
    assert np.abs(adapter.scores([shared])[0] - entry["scores"]).max() > 0.3


def test_both_are_verified_recommended_and_in_models_all(model_store: Path) -> None:
    ids = [c.id for c in resolve_models("all", model_store)]
    assert MBF in ids and OMZ in ids
    assert len(ids) == 11, ids
    for mid in (MBF, OMZ):
        card = get_card(mid)
        assert card.verified and card.recommended
        assert "FER2013" not in card.training_data.replace("Not FER2013", "")
    # The unverified float card stays as it was.
    assert not get_card("opencv-zoo-mobilefacenet-fer").verified


def _omz_copy(model_store: Path, dst: Path, *, with_bin: bool = True) -> Path:
    card = get_card(OMZ)
    paths = [card.artifact.path] + (list(card.artifact.extra_files) if with_bin else [])
    for rel in paths:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model_store / rel, dst / rel)
    return dst


def test_ir_xml_without_its_bin_is_one_clear_line(model_store: Path, tmp_path: Path) -> None:
    store = _omz_copy(model_store, tmp_path, with_bin=False)
    with pytest.raises(ModelError) as exc:
        create(OMZ, [store])
    msg = str(exc.value)
    assert "\n" not in msg and OMZ in msg and ".bin" in msg and "missing" in msg


def test_ir_bin_is_sha256_checked(model_store: Path, tmp_path: Path) -> None:
    store = _omz_copy(model_store, tmp_path)
    rel = next(iter(get_card(OMZ).artifact.extra_files))
    data = bytearray((store / rel).read_bytes())
    data[-1] ^= 1
    (store / rel).write_bytes(bytes(data))
    with pytest.raises(WeightsMismatch, match="sha256"):
        create(OMZ, [store])
    from ferbench.models import is_available

    assert not is_available(get_card(OMZ), [store])


def test_openvino_file_given_to_onnxruntime_names_the_fix(model_store: Path) -> None:
    xml = model_store / get_card(OMZ).artifact.path
    with pytest.raises(ModelError) as exc:
        OnnxSession(xml, input_name=None, output_name=None, model_id=OMZ)
    msg = str(exc.value)
    assert "\n" not in msg and "OpenVINO IR" in msg and "runtime='openvino'" in msg and OMZ in msg


def test_missing_openvino_is_one_clear_line(model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(ModelError) as exc:
        create(OMZ, model_store)
    msg = str(exc.value)
    assert "\n" not in msg and "pip install 'ferbench[openvino]'" in msg and OMZ in msg


def test_openvino_sessions_are_safe_across_threads(model_store: Path, reference_dir: Path) -> None:
    """The engine calls one adapter from several threads; each gets its own infer request."""
    from concurrent.futures import ThreadPoolExecutor

    card = get_card(OMZ)
    ref = _ref(card, reference_dir)
    adapter = create(OMZ, model_store, threads=1)
    crops = [cv2.imread(str(reference_dir / "crops" / r["crop"])) for r in ref["rows"]]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda c: adapter.scores([c])[0], crops * 4))
    np.testing.assert_allclose(np.array(outs), np.array([r["scores"] for r in ref["rows"]] * 4), atol=1e-6)


def test_artifact_extra_files_is_plain_data() -> None:
    art = get_card(OMZ).artifact
    assert isinstance(art, Artifact) and all(len(v) == 64 for v in art.extra_files.values())
    assert get_card(OMZ).to_dict()["artifact"]["extra_files"] == dict(art.extra_files)
