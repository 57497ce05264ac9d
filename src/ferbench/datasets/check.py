"""``ferbench datasets check``: what is in a dataset and what is wrong with it, before any model runs.

Reports counts per split and class, label-file rows excluded (documented non-expression codes) or not
understood (unknown codes, bad names, malformed lines), files a label file lists that are not on disk,
files that cannot be decoded (with the reason the engine would record), images whose header claims too many
pixels, duplicate files (identical content under different paths, with their labels), the colour modes
present (grey and colour mixed), and an empty dataset. Every file is read and decoded once with the same
decoder the engine uses, so a clean check means a run will not fail on a file.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import SampleError
from ..hashing import sha256_bytes
from .base import UNMAPPED_REASONS, Dataset, EmptyDatasetError, load_dataset, log
from .common import NOT_A_FILE
from .images import decode_image, read_bytes, read_header

# How many rows of each kind the human-readable report and the JSON list in full (counts are always full).
LIST_LIMIT = 1000


@dataclass
class CheckReport:
    """Findings of one dataset check; ``problems`` is what makes the command exit non-zero."""

    dataset: str
    root: str
    n_samples: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label -> n
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> n
    unmapped: list[dict[str, str]] = field(default_factory=list)
    excluded_rows: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # named like images, not files (not_a_file)
    missing_files: list[dict[str, str]] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    empty: bool = False
    message: str = ""
    decoded: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> dict[str, int]:
        found = {
            "unmapped_labels": len(self.unmapped),
            "skipped_entries": len(self.skipped),
            "missing_files": len(self.missing_files),
            "unreadable_files": len(self.unreadable),
            "duplicate_groups": len(self.duplicates),
            "empty_dataset": int(self.empty),
        }
        return {k: v for k, v in found.items() if v}

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "root": self.root,
            "n_samples": self.n_samples,
            "empty": self.empty,
            "message": self.message,
            "counts": self.counts,
            "excluded": self.excluded,
            "problems": self.problems,
            "unmapped": self.unmapped[:LIST_LIMIT],
            "skipped": self.skipped[:LIST_LIMIT],
            "missing_files": self.missing_files[:LIST_LIMIT],
            "unreadable": self.unreadable[:LIST_LIMIT],
            "duplicates": self.duplicates[:LIST_LIMIT],
            "modes": self.modes,
            "notes": self.notes,
            "decoded": self.decoded,
        }


def _probe_video(path: str) -> None:
    """Open a video and decode its first frame with PyAV; raise SampleError on failure."""
    if not os.path.exists(path):
        raise SampleError("missing_file", f"{path}: file not found")
    if os.path.getsize(path) == 0:
        raise SampleError("empty_file", f"{path}: file is empty (0 bytes)")
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise SampleError("unreadable", f"{path}: no video stream")
            for _frame in container.decode(video=0):
                return
    except SampleError:
        raise
    except Exception as exc:  # PyAV raises its own error hierarchy for corrupt containers
        raise SampleError(
            "unreadable", f"{path}: not a decodable video ({type(exc).__name__}: {exc})"
        ) from None
    raise SampleError("unreadable", f"{path}: video has no decodable frame")


GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _one(ds: Dataset, row: pd.Series, decode: bool) -> tuple[str, str, str, str]:
    """Return (status, detail, content sha256, colour mode) for one sample; ``+rot`` marks EXIF rotation."""
    media = row.get("media", "image")
    if media == "video":
        try:
            _probe_video(row["path"])
        except SampleError as exc:
            return exc.reason, exc.detail, "", ""
        return "ok", "", "", "video"
    try:
        if ds.pixels is not None:
            img, raw = ds.read(row["sample_id"], row["path"])
            return "ok", "", sha256_bytes(raw), "L"
        raw = read_bytes(row["path"])
        sha = sha256_bytes(raw)
        header = read_header(raw, row["path"])
        if decode:
            decode_image(raw, row["path"])
        return "ok", "", sha, header.mode + ("+rot" if header.orientation != 1 else "")
    except SampleError as exc:
        return exc.reason, exc.detail, "", ""


def check_dataset(ds: Dataset, decode: bool = True, workers: int = 0) -> CheckReport:
    """Check every sample of a loaded dataset (reading and, unless ``decode`` is False, decoding it)."""
    rep = CheckReport(ds.name, str(ds.root), len(ds), decoded=decode)
    df = ds.samples
    rep.counts = {
        str(split): {str(k): int(v) for k, v in g["label"].value_counts().sort_index().items()}
        for split, g in df.groupby("split", sort=True)
    }
    _exclusions(rep, ds.excluded)
    workers = workers or min(16, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda i: _one(ds, df.iloc[i], decode), range(len(df))))
    by_sha: dict[str, list[int]] = defaultdict(list)
    modes: Counter[str] = Counter()
    rotated = 0
    for i, (status, detail, sha, mode) in enumerate(results):
        row = df.iloc[i]
        entry = {
            "sample_id": str(row["sample_id"]),
            "path": str(row["path"]),
            "reason": status,
            "detail": detail,
        }
        if status == "missing_file":
            rep.missing_files.append(entry)
        elif status != "ok":
            rep.unreadable.append(entry)
        if mode:
            modes[mode.removesuffix("+rot")] += 1
            rotated += mode.endswith("+rot")
        if sha:
            by_sha[sha].append(i)
    rep.modes = dict(modes.most_common())
    grey = sum(n for m, n in modes.items() if m in GREY_MODES)
    colour = sum(n for m, n in modes.items() if m not in GREY_MODES and m != "video")
    if grey and colour:
        rep.notes.append(
            f"grey and colour images are mixed ({grey} grey, {colour} colour): every image reaches the models "
            "as 3-channel BGR, grey ones with three equal channels"
        )
    if rotated:
        rep.notes.append(
            f"{rotated} images carry an EXIF rotation; they are decoded upright, as viewers show them"
        )
    for sha, idx in by_sha.items():
        paths = sorted({str(df.iloc[i]["path"]) for i in idx})
        if len(paths) < 2:  # several faces of one image (ExpW) share a file: not a duplicate
            continue
        labels = sorted({str(df.iloc[i]["label"]) for i in idx})
        rep.duplicates.append(
            {
                "sha256": sha,
                "paths": paths,
                "sample_ids": [str(df.iloc[i]["sample_id"]) for i in idx],
                "labels": labels,
                "conflicting_labels": len(labels) > 1,
            }
        )
    rep.duplicates.sort(key=lambda d: (not d["conflicting_labels"], d["paths"][0]))
    return rep


def _exclusions(rep: CheckReport, excluded: pd.DataFrame) -> None:
    rep.excluded = {str(k): int(v) for k, v in excluded["reason"].value_counts().sort_index().items()}
    records = excluded.astype(str).to_dict("records")
    rep.unmapped = [r for r in records if r["reason"] in UNMAPPED_REASONS]
    rep.excluded_rows = [r for r in records if r["reason"] not in UNMAPPED_REASONS]
    rep.skipped = [r for r in records if r["reason"] == NOT_A_FILE]


def check(name: str, data_root: str | os.PathLike[str], decode: bool = True, **options: Any) -> CheckReport:
    """Load dataset ``name`` from ``data_root`` and check it; an empty dataset is a finding, not a crash."""
    quiet = log.disabled  # the check lists every exclusion; the loader's summary warning would repeat it
    log.disabled = True
    try:
        ds = load_dataset(name, data_root, **options)
    except EmptyDatasetError as exc:
        rep = CheckReport(name, str(Path(data_root)), empty=True, message=str(exc))
        _exclusions(rep, exc.excluded)
        return rep
    finally:
        log.disabled = quiet
    return check_dataset(ds, decode=decode)
