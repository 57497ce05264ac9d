"""Crop policy: the reference crops are reproduced exactly; alignment levels the eyes; policies and the API."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferbench.errors import SampleError
from ferbench.faces import Face, crop_square, detect_and_crop, get_detector, select_faces, square_box
from ferbench.faces.crop import TEMPLATE_112, aligned_crop, similarity_transform


def _img(reference_dir: Path, name: str) -> np.ndarray:
    img = cv2.imread(str(reference_dir / "images" / f"{name}.jpg"))
    assert img is not None
    return img


def test_haar_square_10_percent_reproduces_the_reference_crops(
    reference_dir: Path, model_store: Path
) -> None:
    boxes = json.loads((reference_dir / "crops" / "boxes.json").read_text())
    det = get_detector("haar", model_store)
    n_checked = 0
    for name, expected in boxes.items():
        faces = det.detect(_img(reference_dir, name))
        assert [list(map(int, f.box)) for f in faces] == expected, name
        for k, face in enumerate(faces):
            ref_path = reference_dir / "crops" / f"{name}_{k}.png"
            if not ref_path.exists():  # only the 3 largest of multi_face were saved
                continue
            ref = cv2.imread(str(ref_path))
            crop = crop_square(_img(reference_dir, name), face.box, 0.10)
            assert crop.shape == ref.shape, name
            assert np.array_equal(crop, ref), name
            n_checked += 1
    assert n_checked == 8


def test_square_box_is_centred_on_the_longer_side_and_grown() -> None:
    # a 100 wide, 140 high box at (50, 30): square side 140 centred at (100, 100), grown 14 px each side
    assert square_box((50, 30, 100, 140), 0.10) == (16, 16, 184, 184)
    assert square_box((50, 30, 100, 140), 0.0) == (30, 30, 170, 170)


def test_crop_is_clipped_at_the_image_border() -> None:
    img = np.arange(100 * 80 * 3, dtype=np.uint32).reshape(100, 80, 3).astype(np.uint8)
    crop = crop_square(img, (60, 10, 30, 30), 0.5)  # grown square (45..105) x (-5..55) leaves the image
    assert crop.shape == (55, 35, 3)
    assert np.array_equal(crop, img[0:55, 45:80])
    with pytest.raises(ValueError, match="outside"):
        crop_square(img, (200, 200, 10, 10))


def test_similarity_transform_recovers_a_known_similarity() -> None:
    theta, scale, shift = np.deg2rad(17.0), 1.7, np.array([12.0, -5.0])
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    dst = TEMPLATE_112 @ (scale * rot).T + shift
    mat = similarity_transform(TEMPLATE_112, dst)
    np.testing.assert_allclose(mat[:, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(mat[:, 2], shift, atol=1e-9)
    # same answer as OpenCV's partial-affine estimate on exact points
    ref, _ = cv2.estimateAffinePartial2D(TEMPLATE_112, dst)
    np.testing.assert_allclose(mat, ref, atol=1e-4)


def test_alignment_levels_the_eyes_of_a_rolled_face(reference_dir: Path, model_store: Path) -> None:
    img = _img(reference_dir, "0-f15-hao-ph")
    rolled = cv2.warpAffine(
        img, cv2.getRotationMatrix2D((256, 256), 20, 1.0), (512, 512), borderMode=cv2.BORDER_REPLICATE
    )
    det = get_detector("yunet", model_store)
    face = det.detect(rolled)[0]
    assert face.landmarks is not None
    eyes = face.landmarks[:2]
    assert abs(np.degrees(np.arctan2(*(eyes[1] - eyes[0])[::-1]))) > 12  # the input really is rolled
    out = aligned_crop(rolled, face.landmarks, face.box, 0.10)
    assert out.shape[0] == out.shape[1]
    # where the warp sends the detected landmarks: eyes level, near the template's spots in the grown square
    x0, y0, x1, y1 = square_box(face.box, 0.10)
    mat = similarity_transform(face.landmarks, (TEMPLATE_112 / 112 + 0.10) / 1.2 * (x1 - x0))
    e = face.landmarks[:2] @ mat[:, :2].T + mat[:, 2]
    assert abs(np.degrees(np.arctan2(e[1, 1] - e[0, 1], e[1, 0] - e[0, 0]))) < 3
    np.testing.assert_allclose(
        e, (TEMPLATE_112[:2] / 112 + 0.10) / 1.2 * out.shape[0], atol=0.05 * out.shape[0]
    )
    # and the warped image still holds one upright face that YuNet finds, less rolled than before
    again = det.detect(out)
    assert len(again) == 1 and again[0].landmarks is not None
    e2 = again[0].landmarks[:2]
    assert abs(np.degrees(np.arctan2(e2[1, 1] - e2[0, 1], e2[1, 0] - e2[0, 0]))) < 8


def test_policies() -> None:
    faces = [Face((0, 0, 50, 50), 0.9, index=0), Face((100, 0, 20, 20), 0.95, index=1)]
    assert select_faces(faces, "largest") == faces[:1]
    assert select_faces(faces, "all") == faces
    assert select_faces(faces[:1], "skip") == faces[:1]
    with pytest.raises(SampleError) as e:
        select_faces(faces, "skip", "x.jpg")
    assert e.value.reason == "multiple_faces" and "2 faces" in str(e.value)
    with pytest.raises(SampleError) as e:
        select_faces([], "largest", "x.jpg")
    assert e.value.reason == "no_face"


def test_detect_and_crop_api(reference_dir: Path, model_store: Path) -> None:
    multi = _img(reference_dir, "multi_face")
    faces = detect_and_crop(multi, detector="yunet", policy="all", model_store=model_store)
    assert len(faces) == 5
    for f in faces:
        assert f.crop is not None and f.crop.ndim == 3 and abs(f.crop.shape[0] - f.crop.shape[1]) <= 1
        assert f.crop.shape[0] == round(max(f.box[2:])) + 2 * int(round(max(f.box[2:])) * 0.1)
    one = detect_and_crop(multi, detector="yunet", policy="largest", align=True, model_store=model_store)
    assert len(one) == 1 and one[0].area == faces[0].area
    with pytest.raises(SampleError) as e:
        detect_and_crop(multi, detector="rfb320", policy="skip", model_store=model_store)
    assert e.value.reason == "multiple_faces"
    with pytest.raises(SampleError) as e:
        detect_and_crop(
            _img(reference_dir, "free-mountain-vector-01"), detector="haar", model_store=model_store
        )
    assert e.value.reason == "no_face"


@pytest.mark.parametrize("align", [False, True])
def test_crop_landmarks_follow_the_face_into_the_crop(
    align: bool, reference_dir: Path, model_store: Path
) -> None:
    """Each landmark maps to the crop pixel showing the same image content (a warp moves it with the face)."""
    from ferbench.faces.crop import crop_landmarks

    img = _img(reference_dir, "0-f15-hao-ph")
    face = get_detector("yunet", model_store).detect(img)[0]
    assert face.landmarks is not None
    crop = aligned_crop(img, face.landmarks, face.box) if align else crop_square(img, face.box)
    lm = crop_landmarks(face.landmarks, face.box, align=align)
    assert lm.shape == (5, 2)
    assert ((lm >= 0) & (lm < np.array(crop.shape[1::-1]))).all()
    for (x, y), (cx, cy) in zip(face.landmarks, lm, strict=True):
        a = cv2.getRectSubPix(img, (9, 9), (float(x), float(y))).astype(float)
        b = cv2.getRectSubPix(crop, (9, 9), (float(cx), float(cy))).astype(float)
        tol = 25 if align else 0.5  # resampling blurs the warped crop a little; a plain cut is exact
        assert np.abs(a - b).mean() < tol
    if align:  # the aligned landmarks sit near the template's place for them
        side = crop.shape[0]
        dst = (TEMPLATE_112 / 112.0 + 0.1) / 1.2 * side
        assert np.abs(lm - dst).max() < 0.05 * side
