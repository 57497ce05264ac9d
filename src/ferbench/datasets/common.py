"""Small helpers shared by the layout loaders: finding a layout's folders, scanning images, reading text."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DatasetError
from ..labels import to_canonical

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"}
NOT_A_FILE = "not_a_file"  # the exclusion reason of an entry named like an image that is not a file

if TYPE_CHECKING:
    from .base import Exclusions

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}


def find_dir(root: Path, candidates: Sequence[str], what: str, required: bool = True) -> Path | None:
    """Return the first existing ``root/candidate`` (also one level down, for an extra top folder)."""
    for cand in candidates:
        if (root / cand).is_dir():
            return root / cand
    for sub in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for cand in candidates:
            if (sub / cand).is_dir():
                return sub / cand
    if required:
        raise DatasetError(
            f"{root}: {what} not found (looked for {', '.join(c + '/' for c in candidates)} here and one "
            "folder down). Point --data-root at the dataset as downloaded (see docs/datasets.md)."
        )
    return None


def find_file(root: Path, candidates: Sequence[str], what: str, required: bool = True) -> Path | None:
    for cand in candidates:
        if (root / cand).is_file():
            return root / cand
    for sub in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for cand in candidates:
            if (sub / cand).is_file():
                return sub / cand
    if required:
        raise DatasetError(
            f"{root}: {what} not found (looked for {', '.join(candidates)} here and one folder down). "
            "Point --data-root at the dataset as downloaded (see docs/datasets.md)."
        )
    return None


def class_folder_label(class_dir: Path) -> str:
    """The canonical label a class folder's name stands for; a folder that names none is a dataset error."""
    try:
        return to_canonical(class_dir.name)
    except DatasetError:
        raise DatasetError(
            f"{class_dir}: class folder '{class_dir.name}' maps to no canonical expression label"
        ) from None


def is_hidden(p: Path | str) -> bool:
    name = p if isinstance(p, str) else p.name
    return name.startswith(".") or name == "__MACOSX"


def not_a_file(p: Path) -> str | None:
    """Why an entry named like an image cannot be one (a directory, a broken link…), or None for a file."""
    if p.is_file():
        return None
    if p.is_symlink() and not p.exists():
        return f"a broken symbolic link (to {os.readlink(p)})"
    if p.is_dir():
        return "a directory, not an image file"
    return "not a regular file"


def iter_files(
    folder: Path, suffixes: set[str], recursive: bool = True, skipped: Exclusions | None = None
) -> Iterator[Path]:
    """Files under ``folder`` with one of ``suffixes`` (case-insensitive), sorted, skipping hidden entries.

    An entry with such a suffix that is not a readable file (a directory named ``x.jpg``, a broken symbolic
    link) is not silently dropped: it goes to ``skipped`` under the reason ``not_a_file``, so ``ferbench
    datasets check`` and the run summary list it.
    """
    it = folder.rglob("*") if recursive else folder.iterdir()
    for p in sorted(it):
        if any(is_hidden(part) for part in p.relative_to(folder).parts):
            continue
        if p.suffix.lower() not in suffixes:
            continue
        why = not_a_file(p)
        if why is None:
            yield p
        elif skipped is not None:
            skipped.add(str(p), NOT_A_FILE, "", why)


def read_lines(path: Path) -> list[str]:
    """Text lines of a label file (BOM and CRLF tolerated); a binary or unreadable file is a DatasetError."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: label file is not text (UTF-8); is it the right file?") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read label file ({exc.strerror or exc})") from None
    return text.splitlines()


def label_lines(label_file: Path, root: Path) -> Iterator[tuple[str, str, list[str]]]:
    """Each non-blank line of a whitespace-separated label file as ``(where, line, fields)``.

    ``where`` is ``<file relative to root>:<line number>``, so every exclusion names the exact line.
    """
    name = rel(label_file, root)
    for i, line in enumerate(read_lines(label_file), start=1):
        if line.strip():
            yield f"{name}:{i}", line, line.split()


def rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
