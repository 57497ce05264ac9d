"""Reading one image into a BGR uint8 array, with per-sample failures that say what is wrong with which file.

Images reach FER models from every corner of the web and every camera, so decoding is explicit about what it
does with each unusual kind of file instead of leaving it to a decoder's defaults:

* the header is read first (Pillow reads only the header on open) and an image claiming more than
  :data:`MAX_PIXELS` pixels is refused *before* any pixel is decoded (decompression-bomb guard);
* EXIF orientation is applied, so a phone photo stored sideways is seen upright, as a viewer shows it;
* 16-bit images are scaled to 8 bits (``v * 255 / 65535``, rounded), not clipped;
* palette images are expanded; images with an alpha channel are composited over :data:`ALPHA_BACKGROUND`
  (transparent pixels would otherwise show whatever colour happens to be stored under them);
* CMYK (including Adobe's inverted CMYK JPEGs, which Pillow un-inverts on load) is converted to RGB;
* grey images are replicated to three channels, so every model gets BGR uint8 of shape (h, w, 3);
* truncated files fail (``truncated``) rather than being decoded into a half-grey picture.

Failure reasons (``SampleError.reason``): ``missing_file``, ``empty_file``, ``unreadable`` (not an image, or
corrupt), ``truncated``, ``too_large``, ``unsupported_format``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import SampleError

# A 48x48 face needs nothing near this; a file claiming more pixels is refused before decoding (bomb guard).
MAX_PIXELS = 100_000_000
# Colour that transparent pixels are composited onto (RGB).
ALPHA_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class ImageHeader:
    """What the file's header says, read without decoding pixels."""

    format: str
    mode: str
    width: int
    height: int
    orientation: int  # EXIF orientation tag (1 = upright, also when absent)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _open(data: bytes, where: str) -> Image.Image:
    if not data:
        raise SampleError("empty_file", f"{where}: file is empty (0 bytes)")
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # Pillow's own, higher limit, hit while reading the header
        found = re.search(r"\((\d+) pixels\)", str(exc))
        claimed = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise SampleError(
            "too_large",
            f"{where}: header claims {claimed}, over the {MAX_PIXELS:,} limit (refused before decoding; "
            "possible decompression bomb)",
        ) from None
    except UnidentifiedImageError:
        head = data[:8].hex(" ")
        raise SampleError(
            "unreadable", f"{where}: not a decodable image (no known image format; first bytes {head})"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise SampleError(
            "unreadable", f"{where}: not a decodable image (corrupt image header: {exc})"
        ) from None


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # a malformed EXIF block must not cost the image
        return 1


def read_header(data: bytes, where: str) -> ImageHeader:
    """Read format, mode, size and EXIF orientation from the header only. Raises SampleError."""
    img = _open(data, where)
    return ImageHeader(img.format or "?", img.mode, img.width, img.height, _orientation(img))


def _check_size(width: int, height: int, where: str) -> None:
    if width * height > MAX_PIXELS:
        raise SampleError(
            "too_large",
            f"{where}: header claims {width}x{height} = {width * height:,} pixels, over the "
            f"{MAX_PIXELS:,} limit (refused before decoding; possible decompression bomb)",
        )
    if width < 1 or height < 1:
        raise SampleError("unreadable", f"{where}: header claims an empty {width}x{height} image")


def _to_8bit(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype in (np.uint16, np.int32, np.uint32) or arr.dtype.kind in "iu":
        if arr.min() < 0 or arr.max() > 65535:
            raise SampleError(
                "unsupported_format",
                f"{where}: integer pixels outside 0..65535 (range {arr.min()}..{arr.max()}); convert to 8-bit",
            )
        return np.round(arr.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    raise SampleError(
        "unsupported_format", f"{where}: {arr.dtype} pixels are not supported; convert to 8-bit"
    )


def _composite(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    bg = np.array(ALPHA_BACKGROUND, np.float32)[None, None, :]
    out = rgba[:, :, :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
    return np.round(out).astype(np.uint8)


def _to_rgb(img: Image.Image, where: str) -> np.ndarray:
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGB", "RGBA", "L", "LA"):
        arr = np.asarray(img)
    elif mode in ("1",):
        arr = np.asarray(img.convert("L"))
    elif mode.startswith("I") or mode == "F":
        # 16-bit (I;16, I;16B, I;16L) and 32-bit integer grey: scale, never clip.
        arr = np.asarray(img)
        if mode == "F":
            raise SampleError(
                "unsupported_format", f"{where}: floating-point pixels (mode F) are not supported"
            )
        arr = _to_8bit(arr, where)
    elif mode in ("RGBX", "CMYK", "YCbCr", "LAB", "HSV", "RGBa", "La"):
        arr = np.asarray(img.convert("RGBA" if mode in ("RGBa", "La") else "RGB"))
    else:  # any other mode Pillow can convert
        try:
            arr = np.asarray(img.convert("RGB"))
        except (ValueError, OSError) as exc:
            raise SampleError(
                "unsupported_format", f"{where}: pixel mode {mode} not supported ({exc})"
            ) from None
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 2:  # grey + alpha
        grey = arr[:, :, :1]
        return _composite(np.concatenate([grey, grey, grey, arr[:, :, 1:2]], axis=2))
    if arr.shape[2] == 4:
        return _composite(arr)
    return arr


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Decode encoded image bytes to BGR uint8 of shape (h, w, 3). Raises SampleError naming ``where``."""
    img = _open(data, where)
    _check_size(img.width, img.height, where)
    try:
        img.load()
    except OSError as exc:
        text = str(exc)
        if "truncated" in text or "broken data stream" in text or "premature" in text.lower():
            raise SampleError("truncated", f"{where}: image data is truncated ({text})") from None
        raise SampleError("unreadable", f"{where}: not a decodable image (corrupt data: {text})") from None
    except (SyntaxError, ValueError, EOFError) as exc:
        raise SampleError("unreadable", f"{where}: not a decodable image (corrupt data: {exc})") from None
    if _orientation(img) != 1:
        img = ImageOps.exif_transpose(img)
    rgb = _to_rgb(img, where)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SampleError("missing_file", f"{path}: file not found") from None
    except IsADirectoryError:
        raise SampleError("unreadable", f"{path}: is a folder, not an image file") from None
    except OSError as exc:
        raise SampleError("unreadable", f"{path}: {exc.strerror or exc}") from None
