"""Test helpers: a bad-input corpus and fixtures in each dataset's documented layout, built in a temporary
folder from real FER2013 face crops (``../shared/data/fer2013-images``; nothing here is committed).

``bad_images`` writes one file of every awkward kind the decoder must handle or refuse; ``build_*`` write a
dataset in one official layout with the exact folder and file naming of its documentation (see
docs/datasets.md), so each loader is tested against the layout users have on disk.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

FER_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def faces(fer2013_root: Path, cls: str, n: int, offset: int = 0) -> list[Path]:
    """``n`` real 48x48 grey FER2013 test crops of one class, in a fixed order."""
    files = sorted((fer2013_root / "test" / cls).glob("*.jpg"))[offset : offset + n]
    assert len(files) == n, f"need {n} {cls} faces in {fer2013_root}"
    return files


def colour_face(src: Path, size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A real face turned into a colour (RGB) image of ``size`` (w, h) with a tint, so channels differ."""
    grey = np.asarray(Image.open(src).convert("L").resize(size))
    rgb = np.stack([grey, (grey * 0.8).astype(np.uint8), np.clip(grey.astype(int) + 30, 0, 255)], axis=2)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression-bomb-sized image)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def bad_images(folder: Path, fer2013_root: Path) -> dict[str, Path]:
    """Write one file of each awkward kind into ``folder``; return kind -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    src = faces(fer2013_root, "happy", 3)
    good = src[0].read_bytes()
    out: dict[str, Path] = {}

    def put(kind: str, name: str, data: bytes) -> None:
        (folder / name).write_bytes(data)
        out[kind] = folder / name

    put("truncated", "truncated.jpg", good[: len(good) // 2])
    put("zero_byte", "zero.jpg", b"")
    put("not_an_image", "notes.jpg", b"These are my notes, saved with the wrong extension.\n")
    put("bomb", "bomb.png", bomb_png())
    colour = colour_face(src[1])
    colour.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    out["cmyk"] = folder / "cmyk.jpg"
    grey8 = np.asarray(Image.open(src[1]).convert("L"))
    Image.fromarray(grey8.astype(np.uint16) * 257).save(folder / "grey16.png")
    out["png16"] = folder / "grey16.png"
    colour.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(folder / "palette.png")
    out["palette"] = folder / "palette.png"
    rgba = np.dstack([np.asarray(colour), np.full(colour.size[::-1], 255, np.uint8)])
    rgba[:, : rgba.shape[1] // 2, :3] = 0  # left half: black under full transparency
    rgba[:, : rgba.shape[1] // 2, 3] = 0
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    out["alpha"] = folder / "alpha.png"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, to be shown rotated 90 degrees clockwise
    colour.save(folder / "exif_rotated.jpg", quality=95, exif=exif.tobytes())
    out["exif_rotated"] = folder / "exif_rotated.jpg"
    colour.save(folder / "colour.png")
    out["colour"] = folder / "colour.png"
    put("grey", "grey.jpg", src[2].read_bytes())
    return out


def copy_faces(files: list[Path], dest: Path, names: list[str] | None = None) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(files):
        p = dest / (names[i] if names else f.name)
        p.write_bytes(f.read_bytes())
        out.append(p)
    return out


def save_as(src: Path, dest: Path, size: tuple[int, int] | None = None) -> Path:
    """Re-encode a real face into ``dest`` (format from the suffix: .png, .jpg, .tiff)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    img = Image.open(src).convert("L")
    if size:
        img = img.resize(size)
    img.save(dest)
    return dest


def write_video(path: Path, frames: list[Path], fps: int = 5) -> Path:
    """A short real video (MPEG-4 part 2 in .mp4) made of real face crops, each shown for a few frames."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for f in frames:
            rgb = np.asarray(Image.open(f).convert("RGB").resize((64, 64)))
            for _ in range(2):
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def emognition_questionnaire(pid: int, movies: list[str]) -> dict[str, object]:
    emotions = ("AMUSEMENT", "AWE", "ENTHUSIASM", "LIKING", "SURPRISE", "ANGER", "DISGUST", "FEAR", "SADNESS")
    qs = []
    for k, movie in enumerate(movies):
        qs.append(
            {
                "movie": movie,
                "emotions": {e: 1 + (k + j) % 5 for j, e in enumerate(emotions)},
                "sam": {"VALENCE": 1 + k % 9, "AROUSAL": 9 - k % 9, "MOTIVATION": 5},
            }
        )
    return {
        "metadata": {
            "id": pid,
            "age": 20 + pid % 7,
            "gender": "female" if pid % 2 else "male",
            "other_drugs_in_last_8h": False,
            "movie_seen_before_study": {},
        },
        "questionnaires": qs,
    }


def write_json(path: Path, obj: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path
