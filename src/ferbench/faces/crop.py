"""Crop policy: a square around the face box grown by a margin, and optional 5-point similarity alignment.

Square + margin (the default): the box is made square on its longer side about its centre, then grown by
``margin`` × side on each side (``int()`` of it, so Haar's integer boxes give the exact crops in
``_reference/crops``: 10 % each side). Where the grown square leaves the image it is clipped, not padded,
so a face at the border gives a slightly non-square crop (FER models resize anyway).

Alignment (``align=True``, only where the detector gives 5 landmarks): a similarity transform (rotation,
uniform scale, shift; least squares, Umeyama) maps the landmarks onto the common ArcFace 112×112 template,
which is treated as the face box and grown by the same margin; the output is a square of the unaligned
crop's side, so the face keeps its resolution. Eyes end up level, which removes head roll only.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

DEFAULT_MARGIN = 0.10

# ArcFace / InsightFace 5-point template for 112×112 crops: image-left eye, image-right eye, nose,
# image-left mouth corner, image-right mouth corner.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)


def square_box(box: Sequence[float], margin: float = DEFAULT_MARGIN) -> tuple[int, int, int, int]:
    """The grown square ``(x0, y0, x1, y1)`` (exclusive end) for a face box ``(x, y, w, h)``, unclipped."""
    x, y, w, h = (float(v) for v in box)
    side = round(max(w, h))
    x0 = round(x + w / 2 - side / 2)
    y0 = round(y + h / 2 - side / 2)
    m = int(side * margin)
    return x0 - m, y0 - m, x0 + side + m, y0 + side + m


def crop_square(img: np.ndarray, box: Sequence[float], margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Cut the grown square around ``box`` out of ``img``, clipped to the image (a copy)."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = square_box(box, margin)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"face box {tuple(box)} lies outside the {w}x{h} image")
    return img[y0:y1, x0:x1].copy()


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) mapping ``src`` points onto ``dst``; a 2×3 matrix."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    scale = (sig * sign).sum() / s.var(0).sum()
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def crop_landmarks(
    landmarks: np.ndarray,
    box: Sequence[float],
    margin: float = DEFAULT_MARGIN,
    align: bool = False,
) -> np.ndarray:
    """The 5 landmarks in the pixel coordinates of the crop :func:`crop_square` / :func:`aligned_crop` cut.

    Why: later stages that draw on the crop (the perturbations' mask and sunglasses) then sit on the real eyes
    and mouth instead of guessing them from the crop's geometry.
    """
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    if align:
        mat, _ = alignment(lm, box, margin)
        return lm @ mat[:, :2].T + mat[:, 2]
    x0, y0, _, _ = square_box(box, margin)  # clipping at the image's far edges does not move the origin
    return lm - np.array([max(0, x0), max(0, y0)], np.float64)


def alignment(
    landmarks: np.ndarray, box: Sequence[float], margin: float = DEFAULT_MARGIN
) -> tuple[np.ndarray, int]:
    """The 2×3 warp that puts the 5 landmarks on the margin-grown template, and the output side (the
    unaligned crop's)."""
    x0, _, x1, _ = square_box(box, margin)
    size = max(16, x1 - x0)
    dst = (TEMPLATE_112 / 112.0 + margin) / (1 + 2 * margin) * size
    return similarity_transform(np.asarray(landmarks, np.float64).reshape(5, 2), dst), size


def aligned_crop(
    img: np.ndarray, landmarks: np.ndarray, box: Sequence[float], margin: float = DEFAULT_MARGIN
) -> np.ndarray:
    """Warp the face so its 5 landmarks sit on the template; output side = the unaligned crop's side."""
    mat, size = alignment(landmarks, box, margin)
    return cv2.warpAffine(img, mat, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
