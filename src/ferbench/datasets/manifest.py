"""Any list of labelled images: a CSV or Parquet manifest with ``path,label[,more columns…]``.

``--data-root`` is the manifest file itself (``.csv``, ``.tsv``, ``.parquet``, ``.pq``) or a folder holding
exactly one ``manifest.csv``/``manifest.parquet``. ``path`` is relative to the manifest's folder (absolute
paths are kept). ``label`` goes through the user label map, then the synonym table (see
:mod:`ferbench.datasets.labelmap`); unmapped labels are excluded and reported (``unknown_label``), empty ones
too (``missing_label``). A ``split`` column is used when present (else ``all``); every other column (subject
id, age group, skin tone, camera…) is carried as metadata, so fairness and grouping analyses can use it.
A column whose name clashes with a reserved one (``sample_id``, ``stamp``, ``split_group``…) is kept as
``manifest_<name>``. Listing the same path twice is an error per row (``duplicate_entry``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DatasetError
from .base import Dataset, Exclusions, finish, register_dataset, stamp_or_missing
from .labelmap import LabelMapSpec, load_label_map

RESERVED = {"sample_id", "path", "label", "split", "stamp", "split_group", "orig_label"}
SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq"}


def _manifest_file(root: Path) -> Path:
    if root.is_file():
        return root
    found = [root / n for n in ("manifest.csv", "manifest.parquet", "manifest.tsv") if (root / n).is_file()]
    if len(found) != 1:
        raise DatasetError(
            f"{root}: give the manifest file itself as --data-root, or a folder with exactly one "
            f"manifest.csv / manifest.parquet (found {len(found)})"
        )
    return found[0]


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as exc:  # pandas/pyarrow raise many types for a broken file
        raise DatasetError(f"{path}: cannot read manifest ({type(exc).__name__}: {exc})") from None


@register_dataset(
    "manifest", "Any CSV/Parquet manifest: path,label[,split][,group columns...], paths relative to it"
)
def load_manifest(
    root: Path,
    label_map: LabelMapSpec = None,
    path_column: str = "path",
    label_column: str = "label",
    split_column: str = "split",
) -> Dataset:
    mfile = _manifest_file(root)
    if mfile.suffix.lower() not in SUFFIXES:
        raise DatasetError(f"{mfile}: manifest must be .csv, .tsv or .parquet")
    df = _read(mfile)
    for col in (path_column, label_column):
        if col not in df.columns:
            raise DatasetError(
                f"{mfile}: manifest has no '{col}' column (columns: {', '.join(map(str, df.columns))})"
            )
    lmap = load_label_map(label_map)
    base = mfile.parent
    extra = [c for c in df.columns if c not in (path_column, label_column, split_column)]
    rename = {c: (f"manifest_{c}" if c in RESERVED else c) for c in extra}
    header_lines = 1 if mfile.suffix.lower() not in (".parquet", ".pq") else 0
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    seen: dict[str, str] = {}
    for i, rec in enumerate(df.to_dict("records")):
        where = f"{mfile.name}:{i + 1 + header_lines}" if header_lines else f"{mfile.name}[row {i}]"
        raw_path = "" if rec[path_column] is None else str(rec[path_column]).strip()
        raw_label = (
            "" if rec[label_column] is None or pd.isna(rec[label_column]) else str(rec[label_column]).strip()
        )
        if not raw_path:
            ex.add(where, "malformed_line", raw_label, "empty path")
            continue
        if not raw_label:
            ex.add(where, "missing_label", "", f"'{raw_path}' has no label")
            continue
        label, reason = lmap.lookup(raw_label)
        if label is None:
            detail = (
                f"label '{raw_label}' maps to no canonical label; give a label map"
                if reason == "unknown_label"
                else f"'{raw_label}' is excluded by the label map"
            )
            ex.add(where, reason, raw_label, detail)
            continue
        if raw_path in seen:
            ex.add(where, "duplicate_entry", raw_label, f"'{raw_path}' already listed at {seen[raw_path]}")
            continue
        seen[raw_path] = where
        p = Path(raw_path)
        img = p if p.is_absolute() else base / p
        split = (
            str(rec[split_column]).strip()
            if split_column in rec and str(rec[split_column]).strip()
            else "all"
        )
        row: dict[str, object] = {
            "sample_id": raw_path,
            "path": str(img),
            "label": label,
            "split": split,
            "stamp": stamp_or_missing(img),
            "orig_label": raw_label,
        }
        for c in extra:
            row[rename[c]] = rec[c]
        rows.append(row)
    return finish("manifest", mfile.parent, rows, f"manifest {mfile.name}", ex, "labelled rows")
