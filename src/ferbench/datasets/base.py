"""The uniform sample table every dataset loader yields, and the dataset registry.

A :class:`Dataset` is a table of samples plus a way to fetch each sample's image bytes. Columns:

``sample_id``  unique, stable id within the dataset (a relative path, or ``file#row`` for pixel CSVs)
``path``       the file the image comes from (absolute), for messages and provenance
``label``      canonical expression label (see :mod:`ferbench.labels`)
``split``      the dataset's own split name (FER2013: Training / PublicTest / PrivateTest)
``stamp``      cheap change detector (size and mtime of the file); the engine's cache checks it on resume
any further columns are dataset metadata (e.g. ``orig_label``, ``row``) and are carried into results.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MISSING_DATA_ROOT, UNKNOWN_DATASET, DatasetError, SampleError
from ..labels import ordered
from .images import decode_image, read_bytes

REQUIRED_COLUMNS = ("sample_id", "path", "label", "split", "stamp")


@dataclass
class Dataset:
    """A loaded dataset: its samples and how to read each one."""

    name: str
    root: Path
    samples: pd.DataFrame
    description: str = ""
    # For datasets stored as pixel arrays (fer2013.csv): sample_id -> decoded uint8 grey image.
    pixels: dict[str, np.ndarray] | None = field(default=None, repr=False)
    # The evaluated label set, fixed from the whole dataset so a subset never shrinks it.
    label_set: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in self.samples.columns]
        if missing:
            raise DatasetError(f"dataset '{self.name}': sample table lacks columns {missing}")
        if self.samples["sample_id"].duplicated().any():
            dup = self.samples.loc[self.samples["sample_id"].duplicated(), "sample_id"].iloc[0]
            raise DatasetError(f"dataset '{self.name}': duplicate sample id '{dup}'")
        self.samples = self.samples.reset_index(drop=True)
        if not self.label_set:
            self.label_set = ordered(self.samples["label"].dropna().unique())

    @property
    def labels(self) -> tuple[str, ...]:
        """The evaluated label set: canonical labels of the whole dataset, in canonical order."""
        return self.label_set

    def __len__(self) -> int:
        return len(self.samples)

    def read(self, sample_id: str, path: str) -> tuple[np.ndarray, bytes]:
        """Return (BGR image, the bytes its content hash is taken from). Raises SampleError per sample."""
        if self.pixels is not None:
            img = self.pixels.get(sample_id)
            if img is None:
                raise SampleError("bad_pixels", f"{path} [{sample_id}]: pixel row is malformed")
            return np.repeat(img[:, :, None], 3, axis=2), img.tobytes()
        data = read_bytes(path)
        return decode_image(data, path), data

    def select(self, split: str | None = None, limit: int | None = None, seed: int = 0) -> Dataset:
        """A view restricted to a split (or split group) and, with ``limit``, a seeded random subset.

        The subset is drawn with ``seed`` and kept in dataset order, so the same arguments always select the
        same samples, and every class has its fair chance to appear (the first N files would all be 'angry').
        """
        df = self.samples
        if split:
            groups = df["split_group"] if "split_group" in df.columns else None
            mask = df["split"] == split
            if groups is not None:
                mask |= groups == split
            if not mask.any():
                known = sorted(set(df["split"]) | (set(groups) if groups is not None else set()))
                raise DatasetError(
                    f"dataset '{self.name}' has no split '{split}'; splits: {', '.join(known)}"
                )
            df = df[mask]
        if limit is not None:
            if limit < 1:
                raise DatasetError(f"--limit must be at least 1, got {limit}")
            if limit < len(df):
                df = df.sample(n=limit, random_state=seed).sort_index()
        return Dataset(self.name, self.root, df.copy(), self.description, self.pixels, self.labels)


def file_stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def check_root(root: str | os.PathLike[str]) -> Path:
    p = Path(root).expanduser()
    if not p.exists():
        raise DatasetError(MISSING_DATA_ROOT.format(p))
    return p


Loader = Callable[..., Dataset]
_LOADERS: dict[str, tuple[Loader, str]] = {}


def register_dataset(name: str, description: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        _LOADERS[name] = (fn, description)
        return fn

    return deco


def list_datasets() -> dict[str, str]:
    return {name: desc for name, (_, desc) in _LOADERS.items()}


def load_dataset(name: str, data_root: str | os.PathLike[str], **kwargs: Any) -> Dataset:
    """Load a registered dataset from its on-disk layout under ``data_root``."""
    if name not in _LOADERS:
        raise DatasetError(UNKNOWN_DATASET.format(name, ", ".join(_LOADERS)))
    return _LOADERS[name][0](check_root(data_root), **kwargs)
