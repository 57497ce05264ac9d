"""The uniform sample table every dataset loader yields, and the dataset registry.

A :class:`Dataset` is a table of samples plus a way to fetch each sample's image bytes. Columns:

``sample_id``  unique, stable id within the dataset (a relative path, or ``file#row`` for pixel CSVs)
``path``       the file the image comes from (absolute), for messages and provenance
``label``      canonical expression label (see :mod:`ferbench.labels`)
``split``      the dataset's own split name (FER2013: Training / PublicTest / PrivateTest)
``stamp``      cheap change detector (size and mtime of the file); the engine's cache checks it on resume
any further columns are dataset metadata (e.g. ``orig_label``, ``row``) and are carried into results.

Rows of a label file that cannot become samples (a documented non-expression code such as AffectNet's
``None``, an unknown code, a file name that does not follow the dataset's naming scheme) are never dropped
silently: each is recorded in :attr:`Dataset.excluded` with its location and reason, counted in a warning
when the dataset loads, and listed by ``ferbench datasets check``.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MISSING_DATA_ROOT, UNKNOWN_DATASET, DatasetError, SampleError
from ..labels import ordered
from .common import VIDEO_SUFFIXES
from .images import decode_image, read_bytes

REQUIRED_COLUMNS = ("sample_id", "path", "label", "split", "stamp")
EXCLUDED_COLUMNS = ("where", "reason", "orig_label", "detail")
# Exclusion reasons that mean "the label file says something this loader does not understand"; the others
# (non_expression, no_canonical_label, excluded_by_map) are documented, expected exclusions.
UNMAPPED_REASONS = (
    "unknown_label",
    "bad_name",
    "malformed_line",
    "missing_label",
    "bad_votes",
    "duplicate_name",
    "missing_image",
    "unlisted_image",
)

log = logging.getLogger("ferbench.datasets")


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
    # Label-file rows that did not become samples: columns where, reason, orig_label, detail.
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(EXCLUDED_COLUMNS)))
    # Faces that carry annotator votes (``votes_<label>``) but no label under the dataset's label rule (e.g. a
    # FER+ face whose votes tie). They are not samples: no accuracy is computed on them. Models still run on
    # them so that people-vs-models statistics cover every voted face (see ``with_vote_only``).
    vote_only: pd.DataFrame | None = field(default=None, repr=False)

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
        if Path(path).suffix.lower() in VIDEO_SUFFIXES:
            raise SampleError(
                "video_clip",
                f"{path}: is a video clip, not an image; this dataset's clips need the video stage "
                "(frames sampled per clip) before models can run",
            )
        data = read_bytes(path)
        return decode_image(data, path), data

    def select(self, split: str | None = None, limit: int | None = None, seed: int = 0) -> Dataset:
        """A view restricted to a split (or split group) and, with ``limit``, a seeded random subset.

        The subset is drawn with ``seed`` and kept in dataset order, so the same arguments always select the
        same samples, and every class has its fair chance to appear (the first N files would all be 'angry').
        Vote-only faces follow the same split; with ``limit`` the same share of them is drawn separately with
        the same seed, so the samples chosen are exactly those a dataset without them would give.
        """
        df = self.samples
        extra = self.vote_only
        if split:
            mask = _split_mask(df, split)
            if not mask.any():
                groups = df["split_group"] if "split_group" in df.columns else None
                known = sorted(set(df["split"]) | (set(groups) if groups is not None else set()))
                raise DatasetError(
                    f"dataset '{self.name}' has no split '{split}'; splits: {', '.join(known)}"
                )
            df = df[mask]
            if extra is not None:
                extra = extra[_split_mask(extra, split)]
        if limit is not None:
            if limit < 1:
                raise DatasetError(f"--limit must be at least 1, got {limit}")
            if extra is not None and len(extra):
                # the same share of vote-only faces as of samples
                n_extra = round(limit * len(extra) / max(len(df), 1))
                if n_extra < len(extra):
                    extra = extra.sample(n=n_extra, random_state=seed).sort_index()
            if limit < len(df):
                df = df.sample(n=limit, random_state=seed).sort_index()
        return Dataset(
            self.name, self.root, df.copy(), self.description, self.pixels, self.labels, self.excluded,
            None if extra is None else extra.copy(),
        )  # fmt: skip

    def with_vote_only(self) -> Dataset:
        """Samples and vote-only faces in one table (vote-only rows have no label): what models must score."""
        if self.vote_only is None or self.vote_only.empty:
            return self
        both = pd.concat([self.samples, self.vote_only], ignore_index=True)
        return Dataset(self.name, self.root, both, self.description, self.pixels, self.labels, self.excluded)

    def exclusion_counts(self) -> dict[str, int]:
        """Excluded label-file rows per reason."""
        return {str(k): int(v) for k, v in self.excluded["reason"].value_counts().sort_index().items()}


def _split_mask(df: pd.DataFrame, split: str) -> pd.Series:
    mask = df["split"] == split
    if "split_group" in df.columns:
        mask |= df["split_group"] == split
    return mask


def file_stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def stamp_or_missing(path: Path) -> str:
    """``file_stamp``, or ``missing`` for a file a label file lists but the disk lacks (read() then fails)."""
    try:
        return file_stamp(path)
    except FileNotFoundError:
        return "missing"


class Exclusions:
    """Collects label-file rows that do not become samples, each with where it is and why."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def add(self, where: str, reason: str, orig_label: object = "", detail: str = "") -> None:
        self.rows.append(
            {"where": str(where), "reason": reason, "orig_label": str(orig_label), "detail": detail}
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(EXCLUDED_COLUMNS))


class EmptyDatasetError(DatasetError):
    """A layout was found but yields no usable sample; ``excluded`` says what was set aside and why."""

    def __init__(self, message: str, excluded: pd.DataFrame) -> None:
        super().__init__(message)
        self.excluded = excluded


def _summary(excluded: pd.DataFrame, limit: int = 3) -> str:
    counts = excluded["reason"].value_counts().sort_index()
    parts = [f"{reason}: {n}" for reason, n in counts.items()]
    first = excluded.iloc[0]
    return f"{', '.join(parts)}; e.g. {first['where']} ({first['detail'] or first['orig_label']})"


def finish(
    name: str,
    root: Path,
    rows: Iterable[dict[str, object]] | pd.DataFrame,
    description: str,
    excluded: Exclusions | None = None,
    what: str = "samples",
) -> Dataset:
    """Build the Dataset, refusing an empty one and announcing excluded rows (never silently)."""
    table = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    ex = excluded.frame() if excluded is not None else pd.DataFrame(columns=list(EXCLUDED_COLUMNS))
    if table.empty:
        detail = f" ({len(ex)} entries excluded: {_summary(ex)})" if len(ex) else ""
        raise EmptyDatasetError(
            f"{root}: dataset '{name}' has no usable {what}{detail}. "
            f"Check that --data-root points at the dataset as downloaded (see docs/datasets.md).",
            ex,
        )
    if len(ex):
        log.warning(
            "dataset '%s': %d entries excluded (%s); `ferbench datasets check %s` lists them",
            name,
            len(ex),
            _summary(ex),
            name,
        )
    return Dataset(name, root, table, description, excluded=ex)


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
    accepted = loader_options(name)
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        known = ", ".join(accepted) or "none"
        raise DatasetError(f"dataset '{name}' has no option {', '.join(unknown)} (its options: {known})")
    return _LOADERS[name][0](check_root(data_root), **kwargs)


def loader_options(name: str) -> dict[str, Any]:
    """A loader's keyword options and their defaults (what ``--option key=value`` may set)."""
    if name not in _LOADERS:
        raise DatasetError(UNKNOWN_DATASET.format(name, ", ".join(_LOADERS)))
    params = list(inspect.signature(_LOADERS[name][0]).parameters.values())[1:]
    return {p.name: p.default for p in params}
