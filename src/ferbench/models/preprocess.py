"""Turning face crops into model input tensors, driven entirely by a card's :class:`Preprocess`.

Shared by every adapter so that each resize and normalisation rule exists once. Inputs are BGR uint8 arrays
(OpenCV's convention, what :func:`ferbench.datasets.images.read_image` returns), 2-D grey arrays are
accepted too.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from .cards import Preprocess


def _to_color(img: np.ndarray, mode: str) -> np.ndarray:
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if mode == "gray_cv2":
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if mode == "gray3_cv2":
        return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2RGB)
    if mode == "gray_pil":
        return np.asarray(Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).convert("L"))
    if mode == "rgb":
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if mode == "bgr":
        return img
    raise ValueError(f"unknown colour mode {mode!r}")


def _pad_square(img: np.ndarray) -> np.ndarray:
    """Zero-pad to a centred square (face-api.js ``padToSquare(centerImage=true)``)."""
    h, w = img.shape[:2]
    if h == w:
        return img
    side = max(h, w)
    out = np.zeros((side, side, *img.shape[2:]), dtype=img.dtype)
    top = (side - h) // 2
    left = (side - w) // 2
    out[top : top + h, left : left + w] = img
    return out


def _tf_legacy_bilinear(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize as TensorFlow's ``resize_bilinear(align_corners=False, half_pixel_centers=False)``.

    Source coordinate is ``dst * (in / out)`` with no half-pixel offset, which OpenCV cannot express; the
    difference moves face-api.js probabilities by up to 0.29, so it is done explicitly here.
    """
    src = img.astype(np.float32)
    if src.ndim == 2:
        src = src[:, :, None]
    in_h, in_w = src.shape[:2]
    ys = np.arange(height, dtype=np.float32) * (in_h / height)
    xs = np.arange(width, dtype=np.float32) * (in_w / width)
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    y1 = np.minimum(y0 + 1, in_h - 1)
    x1 = np.minimum(x0 + 1, in_w - 1)
    wy = (ys - y0)[:, None, None]
    wx = (xs - x0)[None, :, None]
    top = src[y0][:, x0] * (1 - wx) + src[y0][:, x1] * wx
    bottom = src[y1][:, x0] * (1 - wx) + src[y1][:, x1] * wx
    out = top * (1 - wy) + bottom * wy
    return out if img.ndim == 3 else out[:, :, 0]


def _skimage_resize(img: np.ndarray, height: int, width: int, scale: float) -> np.ndarray:
    """Resize as ``skimage.transform.resize(img, (h, w), order=1, anti_aliasing=True)`` does (scikit-image
    >= 0.19), including its conversion to float64 ``x * scale`` *before* resizing (``img_as_float``).

    facex feeds its TFLite model through scikit-image: when shrinking, a Gaussian blur with
    ``sigma = max(0, (in/out - 1) / 2)`` per axis (mode ``mirror``, truncate 4) is applied first, then
    ``scipy.ndimage.zoom(order=1, mode="mirror", grid_mode=True)``, then the result is clipped to the input's
    range. Without the blur facex's probabilities move by up to 0.13 on the reference crops; scaling after
    the resize instead of before (a 1e-7 input difference) moves them by 0.07, because facex's TFLite file
    quantises activations on the fly. SciPy is used directly so scikit-image is not a dependency.

    scikit-image resizes all axes at once, the channel axis too (factor 1: no blur, exact integer source
    coordinates). Resizing each channel as a 2-D image gives the same bits ~10x faster, and grey replicated
    to three channels (facex's input) needs one channel resized, then copied; ``tests/test_speed_preprocess.py``
    checks both against the all-axes computation and against scikit-image itself.
    """
    from scipy import ndimage as ndi

    src = np.multiply(img, scale, dtype=np.float64)
    lo, hi = src.min(), src.max()

    def plane(x: np.ndarray) -> np.ndarray:
        factors = (x.shape[0] / height, x.shape[1] / width)
        if height < x.shape[0] or width < x.shape[1]:
            sigma = [max(0.0, (f - 1) / 2) for f in factors]
            x = ndi.gaussian_filter(x, sigma, mode="mirror", cval=0.0)
        out = ndi.zoom(x, [1 / f for f in factors], order=1, mode="mirror", cval=0.0, grid_mode=True)
        return np.clip(out, lo, hi)

    if src.ndim == 2:
        return plane(src)
    channels = src.shape[2]
    if all(np.array_equal(src[:, :, 0], src[:, :, c]) for c in range(1, channels)):
        return np.repeat(plane(src[:, :, 0])[:, :, None], channels, axis=2)
    return np.stack([plane(src[:, :, c]) for c in range(channels)], axis=2)


def _letterbox(img: np.ndarray, height: int, width: int, fill: int) -> np.ndarray:
    """Scale to fit, keep aspect ratio, pad bottom/right with ``fill`` (Ultralytics-style, top-left anchored)."""
    h, w = img.shape[:2]
    r = min(height / h, width / w)
    nh, nw = round(h * r), round(w * r)
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nh, nw) != (h, w) else img
    out = np.full((height, width, *img.shape[2:]), fill, dtype=img.dtype)
    out[:nh, :nw] = resized
    return out


def _resize(img: np.ndarray, p: Preprocess) -> np.ndarray:
    height, width = p.size
    if p.resize == "cv2_linear":
        return cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    if p.resize == "pil_bilinear":
        return np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BILINEAR))
    if p.resize == "pil_lanczos":
        return np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.LANCZOS))
    if p.resize == "tf_legacy_bilinear":
        return _tf_legacy_bilinear(img, height, width)
    if p.resize == "letterbox":
        return _letterbox(img, height, width, p.letterbox_fill)
    if p.resize == "skimage_aa":
        return _skimage_resize(img, height, width, p.scale)
    raise ValueError(f"unknown resize method {p.resize!r}")


PixelKey = tuple[str, bool, tuple[int, int], str, int, float]


def pixel_key(p: Preprocess) -> PixelKey:
    """What decides the resized pixels (before normalisation): models with equal keys share them.

    The scikit-image resize applies ``scale`` before resizing, so for it the scale is part of the key.
    """
    fill = p.letterbox_fill if p.resize == "letterbox" else 0
    return (p.color, p.pad_square, p.size, p.resize, fill, p.scale if p.resize == "skimage_aa" else 0.0)


def pixels(img: np.ndarray, p: Preprocess, colored: np.ndarray | None = None) -> np.ndarray:
    """Colour-convert, pad and resize one image: everything per-image, nothing per-element afterwards.

    ``colored`` is ``img`` already converted with ``p.color`` (a cache hit); it must equal ``_to_color(img,
    p.color)``. The result is uint8 (float32 for the TF-legacy and scikit-image resizes) in (H, W) or
    (H, W, C).
    """
    x = _to_color(img, p.color) if colored is None else colored
    if p.pad_square:
        x = _pad_square(x)
    out = _resize(x, p)
    # normalise() starts with astype(float32): doing it now is identical and halves what a chunk holds.
    return out.astype(np.float32) if out.dtype == np.float64 else out


def normalise(stacked: np.ndarray, p: Preprocess) -> np.ndarray:
    """Turn a stack of :func:`pixels` outputs, (n, H, W[, C]), into the (n, ...) float32 input batch.

    One vectorised pass over the whole batch; every step is an elementwise IEEE operation in float32, so the
    result is bit-identical to normalising each image on its own. For NCHW the axes are swapped while the
    pixels are still uint8 (a quarter of the bytes to move) and the float copy is made contiguous in the
    new order: the strided transpose of a float batch was most of YOLO's preprocessing time. Subtracting
    0 and dividing by 1 are skipped (they change no bit).
    """
    x = stacked if stacked.ndim == 4 else stacked[:, :, :, None]
    mean = np.asarray(p.mean, dtype=np.float32)
    std = np.asarray(p.std, dtype=np.float32)
    if p.layout == "NCHW":
        x = np.transpose(x, (0, 3, 1, 2))
        mean, std = mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
    x = x.astype(np.float32, order="C")
    # scikit-image-style resizing has already applied the scale (in float64, before resizing).
    if p.resize == "skimage_aa":
        pass
    elif p.divide:
        x /= np.float32(1.0 / p.scale)
    else:
        x *= np.float32(p.scale)
    if mean.any():
        x -= mean
    if (std != 1).any():
        x /= std
    return x


class PixelCache:
    """Per-image cache of colour conversions and resized pixels, keyed so models with equal rules share them.

    Grey conversion happens once per image even when five models need grey at three sizes; a resize happens
    once per (colour, padding, size, method) whatever the number of models that need it.
    """

    def __init__(self, img: np.ndarray) -> None:
        self.img = img
        self._colored: dict[str, np.ndarray] = {}
        self._pixels: dict[PixelKey, np.ndarray] = {}

    def get(self, p: Preprocess) -> np.ndarray:
        key = pixel_key(p)
        out = self._pixels.get(key)
        if out is None:
            colored = self._colored.get(p.color)
            if colored is None:
                colored = self._colored[p.color] = _to_color(self.img, p.color)
            out = self._pixels[key] = pixels(self.img, p, colored)
        return out


def preprocess_one(img: np.ndarray, p: Preprocess) -> np.ndarray:
    """Return one float32 input tensor (without batch axis) in the card's layout."""
    return normalise(pixels(img, p)[None], p)[0]


def preprocess_batch(images: list[np.ndarray], p: Preprocess) -> np.ndarray:
    """Preprocess ``images`` into an (n, ...) float32 batch (per-image resize, one vectorised normalise)."""
    return normalise(np.stack([pixels(img, p) for img in images]), p)
