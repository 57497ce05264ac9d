"""Content hashes used for weight verification, sample keys and dataset fingerprints."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20
_file_cache: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, memoised per (path, size, mtime) for the life of the process.

    Weight files are verified every time a model is loaded; the memo avoids re-reading a 30 MB file when the
    same process loads the same, unchanged file again.
    """
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key in _file_cache:
        return _file_cache[key]
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    _file_cache[key] = digest
    return digest


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
