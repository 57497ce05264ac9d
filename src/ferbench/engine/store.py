"""The prediction store: one row per (sample, model, variant), the source of truth for every metric.

Rows are written in part files under ``RUN_DIR/parts/<model>/<variant>/``; each part is written to a
temporary name, flushed to disk and renamed into place, so a run killed at any instant (even ``kill -9``)
leaves only whole parts behind, and a resumed run skips exactly the rows those parts hold. A row is reused
when its sample id, the sample file's stamp (size and mtime), the model's weight sha256 and the variant all
match; anything else is recomputed. ``predictions.parquet`` is the consolidated view for the current run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..labels import CANONICAL_LABELS

PROB_COLUMNS = tuple(f"p_{label}" for label in CANONICAL_LABELS)
KEY_COLUMNS = ("sample_id", "stamp", "model_id", "model_sha256", "variant")

SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("stamp", pa.string()),
        ("content_sha256", pa.string()),
        ("model_id", pa.string()),
        ("model_sha256", pa.string()),
        ("variant", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        *[(c, pa.float64()) for c in PROB_COLUMNS],
        ("top_label", pa.string()),
        ("confidence", pa.float64()),
    ]
)


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` so that the file is either absent or complete, never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression="zstd")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class PredictionStore:
    """Reads and appends prediction rows under a run directory."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.parts_dir = self.run_dir / "parts"

    def _part_files(self, model_id: str | None = None) -> list[Path]:
        base = self.parts_dir / model_id if model_id else self.parts_dir
        if not base.exists():
            return []
        return sorted(p for p in base.rglob("*.parquet") if not p.name.startswith("."))

    def write_part(self, rows: pd.DataFrame) -> Path:
        """Append rows for one model and variant as a new, atomically written part file."""
        model_ids = rows["model_id"].unique()
        variants = rows["variant"].unique()
        if len(model_ids) != 1 or len(variants) != 1:
            raise ValueError("a part holds rows of exactly one model and one variant")
        table = pa.Table.from_pandas(rows[list(SCHEMA.names)], schema=SCHEMA, preserve_index=False)
        name = f"part-{uuid.uuid4().hex}.parquet"
        path = self.parts_dir / str(model_ids[0]) / str(variants[0]) / name
        atomic_write_parquet(table, path)
        return path

    def read(self, model_ids: Iterable[str] | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """All stored rows (for the given models), later duplicates of a key dropping earlier ones."""
        files: list[Path] = []
        for mid in model_ids if model_ids is not None else [None]:  # type: ignore[list-item]
            files.extend(self._part_files(mid))
        if not files:
            return SCHEMA.empty_table().to_pandas()
        cols = None if columns is None else sorted(set(columns) | set(KEY_COLUMNS), key=SCHEMA.names.index)
        tables = [pq.read_table(f, columns=cols) for f in files]
        df = pa.concat_tables(tables).to_pandas()
        return df.drop_duplicates(subset=list(KEY_COLUMNS), keep="last").reset_index(drop=True)

    def done_keys(self, model_id: str, model_sha256: str, variant: str) -> set[tuple[str, str]]:
        """(sample_id, stamp) pairs already stored for this exact model file and variant."""
        df = self.read([model_id], columns=list(KEY_COLUMNS))
        if df.empty:
            return set()
        m = (df["model_sha256"] == model_sha256) & (df["variant"] == variant)
        return set(zip(df.loc[m, "sample_id"], df.loc[m, "stamp"], strict=True))
