"""Face finding for ``ferbench predict``: one function, ``detect_faces(bgr) -> [(box, crop), ...]``.

Kept to this one small module so it can be switched to :mod:`ferbench.faces` (built in parallel) by
replacing :func:`detect_faces`. Detector: YuNet (libfacedetection, Apache-2.0) through
``cv2.FaceDetectorYN`` on ``yunet-face-detector/yunet_s_640_640.onnx`` in the model store, pinned by the
sha256 in its SOURCE.txt and checked before first use; score threshold 0.6, NMS 0.3 as that file states.
Crop: the box made square on its longer side about its centre and grown by 10% of the side on each side
(clipped at the image border), the same rule as ``ferbench.faces.crop``. Faces are returned largest first.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..hashing import sha256_file
from ..models.store import StoreSpec, store_paths

YUNET_PATH = "yunet-face-detector/yunet_s_640_640.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
MARGIN = 0.10

Box = tuple[float, float, float, float]  # x, y, w, h in pixels
DetectedFace = tuple[Box, np.ndarray, float]  # box, BGR crop, detector score

_lock = threading.Lock()
_nets: dict[str, cv2.FaceDetectorYN] = {}


def yunet_path(store: StoreSpec = None) -> Path:
    """The verified YuNet weight file from the first store folder holding it (``ModelError`` if missing
    or altered)."""
    folders = store_paths(store)
    found = [f / YUNET_PATH for f in folders if (f / YUNET_PATH).is_file()]
    if not found:
        raise ModelError(
            f"face detector {YUNET_PATH} not found in {', '.join(map(str, folders))}; point --model-store at "
            "the folder holding it"
        )
    path = found[0]
    digest = sha256_file(path)
    if digest != YUNET_SHA256:
        raise ModelError(
            f"face detector '{path}' has sha256 {digest}, expected {YUNET_SHA256}; replace it with the original"
        )
    return path


def square_crop(img: np.ndarray, box: Box, margin: float = MARGIN) -> np.ndarray:
    """The square around ``box`` grown by ``margin`` x side per side, clipped to the image (a copy)."""
    x, y, w, h = (float(v) for v in box)
    side = round(max(w, h))
    x0 = round(x + w / 2 - side / 2)
    y0 = round(y + h / 2 - side / 2)
    m = int(side * margin)
    ih, iw = img.shape[:2]
    a0, b0 = max(0, x0 - m), max(0, y0 - m)
    a1, b1 = min(iw, x0 + side + m), min(ih, y0 + side + m)
    if a1 <= a0 or b1 <= b0:
        raise ValueError(f"face box {box} lies outside the {iw}x{ih} image")
    return img[b0:b1, a0:a1].copy()


def detect_faces(bgr: np.ndarray, store: StoreSpec = None) -> list[DetectedFace]:
    """Every face YuNet finds in a BGR uint8 image, largest first, as (box, crop, score)."""
    key = str(yunet_path(store))
    h, w = bgr.shape[:2]
    with _lock:
        net = _nets.get(key)
        if net is None:
            net = cv2.FaceDetectorYN.create(key, "", (w, h), SCORE_THRESHOLD, NMS_THRESHOLD, 5000)
            _nets[key] = net
        net.setInputSize((w, h))
        _, out = net.detect(bgr)
    if out is None:
        return []
    faces: list[DetectedFace] = []
    for r in out:
        box: Box = (float(r[0]), float(r[1]), float(r[2]), float(r[3]))
        try:
            faces.append((box, square_crop(bgr, box), float(r[14])))
        except ValueError:
            continue
    faces.sort(key=lambda f: -f[0][2] * f[0][3])
    return faces
