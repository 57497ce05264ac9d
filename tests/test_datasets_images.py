"""Decoding every awkward kind of image file in the bad-input corpus (tests/corpus.py), built from real faces."""

from __future__ import annotations

import numpy as np
import pytest
from corpus import bad_images, bomb_png, colour_face, faces
from PIL import Image

from ferbench.datasets.images import ALPHA_BACKGROUND, MAX_PIXELS, decode_image, read_bytes, read_header
from ferbench.errors import SampleError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fer2013_root):
    return bad_images(tmp_path_factory.mktemp("bad"), fer2013_root)


def _decode(path):
    return decode_image(path.read_bytes(), str(path))


@pytest.mark.parametrize(
    ("kind", "reason", "text"),
    [
        ("truncated", "truncated", "truncated"),
        ("zero_byte", "empty_file", "file is empty"),
        ("not_an_image", "unreadable", "not a decodable image"),
        ("bomb", "too_large", "900,000,000 pixels"),
    ],
)
def test_refused_files_name_the_file_and_the_reason(corpus, kind, reason, text):
    with pytest.raises(SampleError) as err:
        _decode(corpus[kind])
    assert err.value.reason == reason
    assert str(corpus[kind]) in str(err.value) and text in str(err.value)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bomb_is_refused_from_the_header_before_decoding(corpus, monkeypatch):
    # The header alone says 900M pixels; decoding must never start.
    called = []
    monkeypatch.setattr(Image.Image, "load", lambda self: called.append(1))
    with pytest.raises(SampleError, match="refused before decoding"):
        _decode(corpus["bomb"])
    assert called == []
    # Between our limit and Pillow's own (about 179M), our header check is the one that refuses.
    mid = bomb_png(12000, 10000)
    with pytest.raises(SampleError, match="12000x10000 = 120,000,000 pixels"):
        decode_image(mid, "mid.png")
    assert read_header(mid, "mid").pixels == 120_000_000 > MAX_PIXELS


def test_sixteen_bit_png_is_scaled_not_clipped(corpus, fer2013_root):
    src = faces(fer2013_root, "happy", 3)[1]
    grey8 = np.asarray(Image.open(src).convert("L"))
    assert Image.open(corpus["png16"]).mode.startswith("I")  # really 16-bit on disk
    img = _decode(corpus["png16"])
    assert img.dtype == np.uint8 and img.shape == (48, 48, 3)
    assert np.array_equal(img[:, :, 0], grey8)  # v*257 scaled back exactly; clipping would saturate at 255


def test_cmyk_jpeg_becomes_bgr_close_to_the_original_colours(corpus, fer2013_root):
    rgb = np.asarray(colour_face(faces(fer2013_root, "happy", 3)[1])).astype(int)
    assert Image.open(corpus["cmyk"]).mode == "CMYK"
    img = _decode(corpus["cmyk"])
    assert img.shape == (48, 64, 3)
    assert np.abs(img[:, :, ::-1].astype(int) - rgb).mean() < 6  # JPEG loss only, channels in BGR order


def test_palette_png_is_expanded(corpus):
    assert Image.open(corpus["palette"]).mode == "P"
    img = _decode(corpus["palette"])
    expected = np.asarray(Image.open(corpus["palette"]).convert("RGB"))
    assert np.array_equal(img[:, :, ::-1], expected)


def test_alpha_is_composited_over_the_documented_background(corpus):
    img = _decode(corpus["alpha"])
    rgb = np.asarray(Image.open(corpus["alpha"]))[:, :, :3]
    half = img.shape[1] // 2
    assert (img[:, :half] == np.array(ALPHA_BACKGROUND[::-1], np.uint8)).all()  # transparent: background
    assert np.array_equal(img[:, half:, ::-1], rgb[:, half:])  # opaque: untouched


def test_exif_rotated_jpeg_is_shown_upright(corpus):
    stored = np.asarray(Image.open(corpus["exif_rotated"]).convert("RGB"))  # as stored: 64 wide, 48 high
    assert stored.shape == (48, 64, 3)
    img = _decode(corpus["exif_rotated"])
    assert img.shape == (64, 48, 3)  # orientation 6: displayed rotated 90 degrees clockwise
    assert np.array_equal(img[:, :, ::-1], np.rot90(stored, k=-1))


def test_grey_and_colour_both_become_three_channel_bgr(corpus):
    grey = _decode(corpus["grey"])
    colour = _decode(corpus["colour"])
    assert grey.shape == (48, 48, 3) and colour.shape == (48, 64, 3)
    assert (grey[:, :, 0] == grey[:, :, 1]).all() and (grey[:, :, 1] == grey[:, :, 2]).all()
    assert not (colour[:, :, 0] == colour[:, :, 2]).all()
    assert np.array_equal(colour[:, :, ::-1], np.asarray(Image.open(corpus["colour"])))


def test_read_bytes_missing_and_folder(tmp_path):
    with pytest.raises(SampleError) as err:
        read_bytes(tmp_path / "gone.jpg")
    assert err.value.reason == "missing_file" and "gone.jpg: file not found" in str(err.value)
    with pytest.raises(SampleError, match="is a folder"):
        read_bytes(tmp_path)
