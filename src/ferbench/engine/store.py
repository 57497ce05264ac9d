"""The prediction store: one row per (sample, model, variant), the source of truth for every metric.

Rows are written in part files under ``RUN_DIR/parts/<model>/<variant>/``; each part is written to a
temporary name, flushed to disk and renamed into place, so a run killed at any instant (even ``kill -9``)
leaves only whole parts behind, and a resumed run skips exactly the rows those parts hold. A row is reused
when its sample id, the sample file's stamp (size and mtime), the model's weight sha256 and the variant all
match; anything else is recomputed. ``predictions.parquet`` is the consolidated view for the current run.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
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

    def _part_files(self, model_id: str | None = None, variant: str | None = None) -> list[Path]:
        base = self.parts_dir / model_id if model_id else self.parts_dir
        if not base.exists():
            return []
        files = (p for p in base.rglob("*.parquet") if not p.name.startswith("."))
        if variant is not None:
            files = (p for p in files if "/".join(p.relative_to(self.parts_dir).parts[1:-1]) == variant)
        return sorted(files)

    def write_part(self, rows: pd.DataFrame | pa.Table) -> Path:
        """Append rows for one model and variant as a new, atomically written part file."""
        if isinstance(rows, pd.DataFrame):
            table = pa.Table.from_pandas(rows[list(SCHEMA.names)], schema=SCHEMA, preserve_index=False)
        else:
            table = rows.select(list(SCHEMA.names)).cast(SCHEMA)
        model_ids = pc.unique(table["model_id"]).to_pylist()
        variants = pc.unique(table["variant"]).to_pylist()
        if len(model_ids) != 1 or len(variants) != 1:
            raise ValueError("a part holds rows of exactly one model and one variant")
        # Time-ordered names: parts sort in write order, so a rewritten key's later row wins on read.
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet"
        path = self.parts_dir / str(model_ids[0]) / str(variants[0]) / name
        atomic_write_parquet(table, path)
        return path

    def read_table(
        self,
        model_ids: Iterable[str] | None = None,
        columns: list[str] | None = None,
        *,
        variant: str | None = None,
        model_sha256: str | None = None,
        dedupe: bool = True,
    ) -> pa.Table:
        """Stored rows as an Arrow table, reading only the parts, columns and rows asked for.

        Parts live under ``<model>/<variant>/``, so ``model_ids`` and ``variant`` prune whole files before any
        is opened; ``columns`` is pushed down to the Parquet reader (the key columns always come along so that
        duplicates can be dropped); ``model_sha256`` is a row filter. Later duplicates of a key win.
        """
        files: list[Path] = []
        for mid in model_ids if model_ids is not None else [None]:  # type: ignore[list-item]
            files.extend(self._part_files(mid, variant))
        cols = (
            list(SCHEMA.names)
            if columns is None
            else [c for c in SCHEMA.names if c in set(columns) | set(KEY_COLUMNS)]
        )
        if not files:
            return SCHEMA.empty_table().select(cols)
        dataset = pads.dataset([str(f) for f in files], schema=SCHEMA, format="parquet")
        flt = None
        if variant is not None:
            flt = pc.field("variant") == variant
        if model_sha256 is not None:
            f2 = pc.field("model_sha256") == model_sha256
            flt = f2 if flt is None else flt & f2
        table = dataset.to_table(columns=cols, filter=flt)
        if dedupe and table.num_rows:
            table = _drop_earlier_duplicates(table)
        return table

    def read(
        self,
        model_ids: Iterable[str] | None = None,
        columns: list[str] | None = None,
        *,
        variant: str | None = None,
        model_sha256: str | None = None,
    ) -> pd.DataFrame:
        """All stored rows (for the given models, variant, columns), later duplicates of a key dropping earlier ones."""
        table = self.read_table(model_ids, columns, variant=variant, model_sha256=model_sha256)
        # Columns are released as they are converted, so the Arrow and pandas copies are not both held whole.
        return table.to_pandas(self_destruct=True, split_blocks=True)

    def done_keys(self, model_id: str, model_sha256: str, variant: str) -> set[tuple[str, str]]:
        """(sample_id, stamp) pairs already stored for this exact model file and variant."""
        t = self.read_table([model_id], ["sample_id", "stamp"], variant=variant, model_sha256=model_sha256)
        return set(zip(t["sample_id"].to_pylist(), t["stamp"].to_pylist(), strict=True))

    def done_mask(
        self, model_id: str, model_sha256: str | None, variant: str, samples: pd.DataFrame
    ) -> np.ndarray:
        """Boolean array over ``samples`` rows: True where this model file and variant already has the row.

        Vectorised (a hash join in Arrow), so resuming a million-sample run does not loop in Python. A model
        without a known weight sha256 never matches stored rows (they cannot be tied to its file).
        """
        if model_sha256 is None:
            return np.zeros(len(samples), dtype=bool)
        t = self.read_table(
            [model_id], ["sample_id", "stamp"], variant=variant, model_sha256=model_sha256, dedupe=False
        )
        if t.num_rows == 0:
            return np.zeros(len(samples), dtype=bool)
        done = _key_array(t["sample_id"], t["stamp"])
        want = _key_array(
            pa.array(samples["sample_id"].to_numpy(dtype=object), pa.string()),
            pa.array(samples["stamp"].to_numpy(dtype=object), pa.string()),
        )
        return pc.is_in(want, value_set=done).to_numpy(zero_copy_only=False)


def _key_array(sample_id: pa.Array | pa.ChunkedArray, stamp: pa.Array | pa.ChunkedArray) -> pa.Array:
    joined = pc.binary_join_element_wise(sample_id.cast(pa.string()), stamp.cast(pa.string()), "\x00")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _drop_earlier_duplicates(table: pa.Table) -> pa.Table:
    """Keep the last row of each key (parts are read in name order, rows in write order).

    Rows are grouped on each key column's dictionary codes, not on one joined key string: at 200,000 rows the
    joined strings and their hash table cost three times the table itself (``benchmarks/throughput.py`` (f)).
    """
    n = table.num_rows
    codes = {c: pc.dictionary_encode(table[c]).combine_chunks().indices for c in KEY_COLUMNS}
    idx = (
        pa.table({**codes, "i": pa.array(np.arange(n))})
        .group_by(list(KEY_COLUMNS), use_threads=False)
        .aggregate([("i", "max")])["i_max"]
    )
    if len(idx) == n:
        return table
    return table.take(pa.array(np.sort(idx.to_numpy())))
