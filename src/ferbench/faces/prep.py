"""Per-model face preparation: the crop each model's authors cut from a detected face (``ModelCard.face_prep``).

One detection per image, many crops: the face stage finds each face once, and every model whose card declares
its own :class:`~ferbench.models.cards.FacePrep` receives the crop its authors' pipeline makes from that same
face; models with ``kind="shared"`` get the run's one crop (:func:`ferbench.faces.stage.cut`). The recipes
follow upstream exactly, because a model's outputs move with the crop (opencv_zoo's MobileFaceNet moves by up
to a logit between ferbench's own alignment and its authors'):

* ``align5``: a least-squares similarity (Umeyama) between the 5 landmarks and the card's template, fitted in
  the direction upstream fits it (opencv_zoo: template onto landmarks, then inverted), ``cv2.warpAffine``
  bilinear into ``size`` x ``size`` with the card's border;
* ``square_box``: the box squared on ``max(w, h)`` about its centre, grown by ``margin`` x side each side,
  clipped to the image, each corner rounded to the nearest pixel;
* ``resize``: the whole image.

On a face without landmarks (a pre-cropped dataset, a detector without landmarks) an ``align5`` model gets the
whole crop resized instead; :func:`fallback_note` words that for the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ..models.cards import FacePrep, ModelCard
from .crop import similarity_transform
from .types import SHARED_CROP, Face

BORDERS = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}


def prep_key(prep: FacePrep) -> str:
    """A short stable name for a preparation: models with equal keys share one crop per face."""
    if prep.kind == "shared":
        return SHARED_CROP
    if prep.kind == "align5":
        pts = ",".join(f"{x:g}:{y:g}" for x, y in prep.template)
        return f"align5:{prep.size}:{prep.border}:{prep.fit}:{pts}"
    if prep.kind == "square_box":
        return f"square_box:{prep.margin:g}"
    return prep.kind


def crop_key(card: ModelCard, own_crops: bool = True) -> str:
    """The key of the crop ``card`` receives in a run (:data:`SHARED_CROP` without ``own_crops``)."""
    return prep_key(card.face_prep) if own_crops else SHARED_CROP


def invert_affine(mat: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine map."""
    full = np.vstack([np.asarray(mat, np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def template_warp(landmarks: np.ndarray, prep: FacePrep) -> np.ndarray:
    """The 2x3 similarity that puts the 5 landmarks on the card's template, fitted as upstream fits it.

    Least squares in the template's pixels (``forward``) and in the image's (``inverse``) weigh the points
    differently when they do not fit exactly, which every real face does; the reference outputs follow
    upstream's choice to the bit.
    """
    src = np.asarray(landmarks, np.float64).reshape(5, 2)
    dst = np.asarray(prep.template, np.float64)
    if prep.fit == "inverse":
        return invert_affine(similarity_transform(dst, src))
    return similarity_transform(src, dst)


def square_box_corners(
    img_shape: Sequence[int], box: Sequence[float], margin: float
) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` (exclusive end) of the grown square about the box's centre, each corner rounded
    to the nearest pixel and clipped to the image (the reference's ``crop_xyxy``)."""
    h, w = int(img_shape[0]), int(img_shape[1])
    x, y, bw, bh = (float(v) for v in box)
    half = max(bw, bh) * (1 + 2 * margin) / 2
    cx, cy = x + bw / 2, y + bh / 2
    return (
        max(0, round(cx - half)),
        max(0, round(cy - half)),
        min(w, round(cx + half)),
        min(h, round(cy + half)),
    )


def square_box_crop(img: np.ndarray, box: Sequence[float], margin: float) -> np.ndarray:
    """The box squared on its longer side about its centre, grown by ``margin`` x side each side, clipped."""
    x0, y0, x1, y1 = square_box_corners(img.shape, box, margin)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"face box {tuple(box)} lies outside the {img.shape[1]}x{img.shape[0]} image")
    return img[y0:y1, x0:x1].copy()


def prepare_face(img: np.ndarray, face: Face | None, prep: FacePrep) -> np.ndarray:
    """The crop a model with preparation ``prep`` sees for ``face`` in ``img`` (``None``: the whole image).

    ``shared`` is not handled here: the face stage gives those models the run's own crop.
    """
    if prep.kind == "shared":
        raise ValueError("a shared preparation is the face stage's own crop, not a per-model one")
    if face is None or prep.kind == "resize":
        return img
    if prep.kind == "align5":
        if face.landmarks is None:
            return img
        mat = template_warp(face.landmarks, prep)
        return cv2.warpAffine(
            img, mat, (prep.size, prep.size), flags=cv2.INTER_LINEAR, borderMode=BORDERS[prep.border]
        )
    if prep.kind == "square_box":
        return square_box_crop(img, face.box, prep.margin)
    raise ValueError(f"unknown face preparation {prep.kind!r}")


def face_prep_record(card: ModelCard, faces: dict[str, Any] | None) -> dict[str, Any]:
    """What face preparation a model declared and what it got in this run, for ``metrics.json`` and the report.

    ``faces`` is the face stage's description (None: no face stage, the images are the crops). A model whose
    own preparation could not be applied says so in ``note``.
    """
    prep = card.face_prep
    declared = prep.kind
    note = None
    if faces is None:
        applied = "resize"
        if declared not in ("shared", "resize"):
            note = (
                f"declares {prep.describe()}, but the images are pre-cropped faces (no --faces): it got the "
                "plain resize of each image instead"
            )
    elif declared != "shared" and faces.get("own_crops", True):
        applied = declared
    else:
        applied = "shared"
        if declared != "shared":
            note = f"declares {prep.describe()}, but --shared-crop gave it the run's crop"
    return {"declared": declared, "applied": applied, "description": prep.describe(), "note": note}
