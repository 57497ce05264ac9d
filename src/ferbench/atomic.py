"""Whole-or-nothing file writes: a temporary file with a name no other writer can pick, fsync, rename.

Every temporary name carries a random part, so two processes writing the same target (two runs racing on one
folder before the lock refuses one, a report rendered while a run finishes) never write into each other's
temporary file; the last rename wins and the target is always one complete document.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq


def unique_tmp(path: Path) -> Path:
    """A hidden temporary name beside ``path``, unique to this call."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _write_atomic(path: Path, write: Callable[[BinaryIO], object], *, sync_dir: bool = False) -> None:
    """``write`` into a unique temporary file beside ``path``, fsync it, rename it into place.

    ``sync_dir`` also fsyncs the folder, so the rename itself survives a crash (the store's parts, whose
    presence is what a resumed run trusts).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = unique_tmp(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if sync_dir:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_bytes_atomic(data: bytes, path: Path) -> None:
    _write_atomic(path, lambda f: f.write(data))


def write_text_atomic(text: str, path: Path) -> None:
    write_bytes_atomic(text.encode("utf-8"), path)


def write_json_atomic(obj: Any, path: Path) -> None:
    write_text_atomic(json.dumps(obj, indent=1, allow_nan=False), path)


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` so that the file is either absent or complete, never half-written."""
    _write_atomic(path, lambda f: pq.write_table(table, f, compression="zstd"), sync_dir=True)
