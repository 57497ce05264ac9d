"""The per-channel scikit-image-style resize gives the same bits as resizing all axes at once.

facex's inputs depend on the last bit (its TFLite file quantises activations on the fly), so the faster
resize must be exact. Oracles: the all-axes computation written out here (the code it replaced), and
scikit-image's own ``resize`` where scikit-image is installed (the ``bench`` extra).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi

from ferbench.models.preprocess import _skimage_resize


def _all_axes(img: np.ndarray, height: int, width: int, scale: float) -> np.ndarray:
    """scikit-image's resize steps over every axis at once (the previous ferbench code, unchanged)."""
    src = np.multiply(img, scale, dtype=np.float64)
    if src.ndim == 2:
        src = src[:, :, None]
    out_shape = (height, width, src.shape[2])
    factors = np.divide(src.shape, out_shape)
    if any(o < i for o, i in zip(out_shape, src.shape, strict=True)):
        src_f = ndi.gaussian_filter(src, np.maximum(0.0, (factors - 1) / 2), mode="mirror", cval=0.0)
    else:
        src_f = src
    out = ndi.zoom(src_f, [1 / f for f in factors], order=1, mode="mirror", cval=0.0, grid_mode=True)
    out = np.clip(out, src.min(), src.max())
    return out if img.ndim == 3 else out[:, :, 0]


def _images(fer2013_root: Path, reference_dir: Path) -> list[np.ndarray]:
    """Small grey FER2013 crops (upscaled to 200 px) and large colour photos and crops (shrunk: blur path)."""
    fer = sorted((fer2013_root / "test").glob("*/*.jpg"))[::400]
    ref = sorted((reference_dir / "images").glob("*.jpg")) + sorted((reference_dir / "crops").glob("*.png"))
    imgs = [cv2.imread(str(p)) for p in fer + ref]
    assert all(i is not None for i in imgs) and len(imgs) > 20
    return imgs


def test_per_channel_resize_is_bit_identical(fer2013_root: Path, reference_dir: Path) -> None:
    imgs = _images(fer2013_root, reference_dir)
    assert any(min(i.shape[:2]) > 200 for i in imgs) and any(max(i.shape[:2]) < 200 for i in imgs)
    for img in imgs:
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        gray3 = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
        for x in (gray, gray3, img):  # grey, grey replicated (facex), real colour
            for size in ((200, 200), (64, 96)):
                got = _skimage_resize(x, *size, 1 / 255)
                want = _all_axes(x, *size, 1 / 255)
                assert got.dtype == want.dtype and got.shape == want.shape
                assert np.array_equal(got, want), (x.shape, size)


def test_matches_scikit_image_as_facex_calls_it(fer2013_root: Path, reference_dir: Path) -> None:
    """facex calls ``resize(gray, (200, 200, 3))`` on a 2-D grey face; ferbench resizes grey replicated."""
    transform = pytest.importorskip("skimage.transform")
    for img in _images(fer2013_root, reference_dir):
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        want = transform.resize(gray, (200, 200, 3))
        got = _skimage_resize(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), 200, 200, 1 / 255)
        assert np.array_equal(got, want), img.shape
