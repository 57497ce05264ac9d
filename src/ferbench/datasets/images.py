"""Reading one image into a BGR uint8 array, with per-sample failures that say what is wrong with which file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import SampleError

# A 48x48 face needs nothing near this; a file claiming more pixels is refused before decoding (bomb guard).
MAX_PIXELS = 100_000_000


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Decode encoded image bytes to BGR uint8 (grey images are replicated to three channels)."""
    if not data:
        raise SampleError("empty_file", f"{where}: file is empty (0 bytes)")
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_COLOR)
    if img is None:
        raise SampleError(
            "unreadable", f"{where}: not a decodable image (corrupt, truncated or not an image)"
        )
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise SampleError("too_large", f"{where}: {img.shape[1]}x{img.shape[0]} pixels exceeds {MAX_PIXELS}")
    return img


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SampleError("missing_file", f"{path}: file not found") from None
    except OSError as exc:
        raise SampleError("unreadable", f"{path}: {exc.strerror or exc}") from None
