"""Image perturbations of a face crop: pure functions ``(img, level, rng, landmarks) -> img``.

Each takes a BGR uint8 crop and returns a new BGR uint8 array of the same shape. ``level`` is the
perturbation's parameter for one severity (a blur sigma, a JPEG quality…; the severity tables live in
:mod:`ferbench.perturb.registry`). Sizes are relative to the crop's side so that a severity means the same
thing on a 48 px FER2013 face and on a 224 px crop. ``rng`` is a seeded :class:`numpy.random.Generator`, so a
perturbation is a deterministic function of its inputs. ``landmarks`` (optional) are five points in crop
pixels in the order image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth
corner (the YuNet / ArcFace order); occluders are placed from them when given and from the crop geometry of
a centred, upright face otherwise.
"""

from __future__ import annotations

import cv2
import numpy as np

# Where the landmarks of a centred, upright face crop lie, as fractions of (width, height). Measured on the
# mean of FER2013-style registered crops; used when a sample has no landmarks.
DEFAULT_LANDMARKS = np.array([[0.32, 0.40], [0.68, 0.40], [0.50, 0.58], [0.36, 0.76], [0.64, 0.76]])


#: Bump whenever an op below changes the image it makes for the same level and seed: every perturbed
#: prediction is then recomputed (part of each perturbation variant's fingerprint).
OPS_VERSION = 1


def _as_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _side(img: np.ndarray) -> int:
    return int(min(img.shape[:2]))


def face_points(img: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """The five landmark points in pixels: the given ones, or the centred-face defaults."""
    if landmarks is not None:
        lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
        if np.isfinite(lm).all():
            return lm
    h, w = img.shape[:2]
    return DEFAULT_LANDMARKS * np.array([w, h], dtype=np.float64)


def gaussian_blur(img: np.ndarray, sigma: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """Out-of-focus or motion-free soft image: Gaussian blur with sigma ``sigma`` × side / 48 pixels."""
    s = sigma * _side(img) / 48.0
    return cv2.GaussianBlur(img, (0, 0), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REFLECT101)


def gaussian_noise(img: np.ndarray, std: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """Sensor noise: independent Gaussian noise of ``std`` grey levels per pixel (same on all channels).

    One noise field for all channels keeps a grey image grey (FER2013 is grey; colour noise would add hue).
    """
    noise = rng.normal(0.0, std, size=img.shape[:2])[:, :, None]
    return _as_uint8(img.astype(np.float64) + noise)


def brightness(img: np.ndarray, factor: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """Dim light: every pixel value multiplied by ``factor`` (< 1)."""
    return _as_uint8(img.astype(np.float64) * factor)


def contrast(img: np.ndarray, factor: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """Flat light: values pulled towards the image's mean grey by ``1 - factor``."""
    x = img.astype(np.float64)
    mean = x.mean()
    return _as_uint8(mean + (x - mean) * factor)


def gamma(img: np.ndarray, g: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """Under-exposure that crushes shadows first: ``255 · (x/255) ** g`` with ``g`` > 1."""
    lut = _as_uint8(255.0 * (np.arange(256) / 255.0) ** g)
    return cv2.LUT(img, lut)


def jpeg(img: np.ndarray, quality: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """Compression artefacts: encode as JPEG at ``quality`` (0-100) and decode again."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR array
        raise RuntimeError("JPEG encoding failed")
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if out is None:  # pragma: no cover
        raise RuntimeError("JPEG decoding failed")
    return np.asarray(out, dtype=np.uint8)


def downscale(img: np.ndarray, factor: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """A face seen from far away: shrink by ``factor`` (area averaging), then enlarge back (bilinear)."""
    h, w = img.shape[:2]
    small = (max(2, round(w * factor)), max(2, round(h * factor)))
    down = cv2.resize(img, small, interpolation=cv2.INTER_AREA)
    return cv2.resize(down, (w, h), interpolation=cv2.INTER_LINEAR)


def rotate(img: np.ndarray, degrees: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """Head roll: rotate about the centre by ``degrees`` in a seeded random direction (edges replicated)."""
    h, w = img.shape[:2]
    sign = 1.0 if rng.random() < 0.5 else -1.0
    mat = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), sign * degrees, 1.0)
    return cv2.warpAffine(img, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def hflip(img: np.ndarray, level: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """Mirror image. Expressions are (nearly) left-right symmetric, so a sound model should barely change."""
    return np.ascontiguousarray(img[:, ::-1])


def _shade(img: np.ndarray, mask: np.ndarray, colour: np.ndarray, opacity: float) -> np.ndarray:
    """Paint ``colour`` over ``mask`` (float 0..1 coverage) with the given opacity."""
    a = (mask * opacity)[:, :, None]
    return _as_uint8(img.astype(np.float64) * (1.0 - a) + colour[None, None, :] * a)


# A light blue-grey surgical mask, in BGR. A fixed colour (not drawn at random) keeps the pixel change of a
# severity a function of the covered area alone.
MASK_COLOUR = np.array([205.0, 190.0, 170.0])


def face_mask(img: np.ndarray, top: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """A synthetic face mask over the lower face.

    The mask spans the cheeks from a little outside the mouth corners and reaches from the chin up to a line
    ``top`` of the way from the mouth to the eyes (0: the mouth line, 1: the eye line), so higher severities
    cover the mouth, then the nose, then the cheeks up to just under the eyes. Placed from the landmarks when
    given. A little shading of the folds (seeded) keeps it from being a flat patch.
    """
    h, w = img.shape[:2]
    lm = face_points(img, landmarks)
    eyes_y = lm[:2, 1].mean()
    mouth_y = lm[3:, 1].mean()
    eye_dist = float(np.linalg.norm(lm[1] - lm[0])) or w * 0.36
    cx = lm[:, 0].mean()
    y_top = mouth_y - top * (mouth_y - eyes_y)
    half = 1.05 * eye_dist
    y_bot = min(h - 1.0, mouth_y + 0.9 * (mouth_y - eyes_y))
    poly = np.array(
        [
            [cx - half, y_top + 0.10 * eye_dist],
            [cx, y_top - 0.05 * eye_dist],
            [cx + half, y_top + 0.10 * eye_dist],
            [cx + 0.95 * half, y_bot - 0.35 * eye_dist],
            [cx + 0.45 * half, y_bot],
            [cx - 0.45 * half, y_bot],
            [cx - 0.95 * half, y_bot - 0.35 * eye_dist],
        ]
    )
    cover = np.zeros((h, w), np.uint8)
    cv2.fillPoly(cover, [np.round(poly * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    m = cover.astype(np.float64) / 255.0
    yy = np.arange(h, dtype=np.float64)[:, None]
    folds = 1.0 - 0.06 * (np.sin((yy - y_top) / max(1.0, eye_dist) * 6.0 + rng.uniform(0, np.pi)) > 0.6)
    out = _shade(img, m, MASK_COLOUR, 1.0)
    return _as_uint8(out.astype(np.float64) * np.where(m[:, :, None] > 0, folds[:, :, None], 1.0))


def sunglasses(img: np.ndarray, size: float, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """Sunglasses-style eye occlusion: two dark lenses and a bridge centred on the eyes.

    ``size`` scales the lenses (relative to the distance between the eyes); lenses are drawn nearly opaque
    so that a bigger size always hides more of the eye region.
    """
    h, w = img.shape[:2]
    lm = face_points(img, landmarks)
    eye_dist = float(np.linalg.norm(lm[1] - lm[0])) or w * 0.36
    angle = float(np.degrees(np.arctan2(lm[1, 1] - lm[0, 1], lm[1, 0] - lm[0, 0])))
    cover = np.zeros((h, w), np.uint8)
    ax = (max(1, round(16 * size * 0.30 * eye_dist)), max(1, round(16 * size * 0.22 * eye_dist)))
    for eye in lm[:2]:
        centre = tuple(int(v) for v in np.round(eye * 16))
        cv2.ellipse(cover, centre, ax, angle, 0, 360, 255, -1, cv2.LINE_AA, shift=4)
    thick = max(1, round(0.05 * eye_dist * size))
    p0 = tuple(int(v) for v in np.round(lm[0] * 16))
    p1 = tuple(int(v) for v in np.round(lm[1] * 16))
    cv2.line(cover, p0, p1, 255, thick, cv2.LINE_AA, shift=4)
    return _shade(img, cover.astype(np.float64) / 255.0, np.array([18.0, 18.0, 22.0]), 0.95)
