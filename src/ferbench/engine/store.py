"""The prediction store: one row per (sample, model, variant), the source of truth for every metric.

Rows are written in part files under ``RUN_DIR/parts/<model>/<variant>/``; each part is written to a
temporary name, flushed to disk and renamed into place, so a run killed at any instant (even ``kill -9``)
leaves only whole parts behind, and a resumed run skips exactly the rows those parts hold.

A row is reused only when everything that produced it is unchanged: its sample id and the sample file's stamp
(size and mtime), the *model fingerprint* (:attr:`~ferbench.models.cards.ModelCard.fingerprint`: weights,
every output-relevant card field, the adapter code's version) and the *variant fingerprint* (every parameter
of the face stage and perturbation in front of the model). Rows keyed otherwise stay on disk untouched but are
never read by a run: :meth:`PredictionStore.read` returns only *current* rows, those whose fingerprints the
most recent run recorded for their model and variant in ``RUN_DIR/store.json`` (the ledger; ``ferbench store
info`` lists the rest and ``ferbench store prune`` deletes them). A model with neither a weight sha256 nor a
declared version gets a fingerprint unique to one run, so its rows are never reused.
``predictions.parquet`` is the consolidated view for the current run.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..atomic import atomic_write_parquet, write_json_atomic
from ..fingerprint import variant_fingerprint
from ..labels import CANONICAL_LABELS

PROB_COLUMNS = tuple(f"p_{label}" for label in CANONICAL_LABELS)
KEY_COLUMNS = ("sample_id", "stamp", "model_id", "model_fingerprint", "variant", "variant_fingerprint")
LEDGER = "store.json"
__all__ = ["PredictionStore", "StoreEntry", "variant_fingerprint", "atomic_write_parquet"]

SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("stamp", pa.string()),
        ("content_sha256", pa.string()),
        ("model_id", pa.string()),
        ("model_sha256", pa.string()),
        ("variant", pa.string()),
        ("model_fingerprint", pa.string()),
        ("variant_fingerprint", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        *[(c, pa.float64()) for c in PROB_COLUMNS],
        ("top_label", pa.string()),
        ("confidence", pa.float64()),
    ]
)


@dataclass(frozen=True)
class StoreEntry:
    """Rows of one (model, variant) under one pair of fingerprints, as ``ferbench store info`` lists them."""

    model_id: str
    variant: str
    model_fingerprint: str | None
    variant_fingerprint: str | None
    rows: int
    parts: int
    current: bool


class PredictionStore:
    """Reads and appends prediction rows under a run directory, keyed by model and variant fingerprints."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.parts_dir = self.run_dir / "parts"
        self.ledger_path = self.run_dir / LEDGER
        # Stands in for the fingerprint of a model nothing pins (no weight sha256, no version): unique to this
        # store object, i.e. to one run, so such rows are read back by the run that made them and never reused.
        self._session = uuid.uuid4().hex[:16]

    def model_fingerprint(self, card: Any) -> str:
        """``card.fingerprint``, or a one-run stand-in when the card pins nothing (never reused)."""
        fp: str | None = card.fingerprint
        return fp if fp is not None else f"model:unpinned-{self._session}"

    # The ledger: which fingerprints are current for each model id and variant name.

    def ledger(self) -> dict[str, dict[str, Any]]:
        """``{"models": {id: {...}}, "variants": {name: {...}}}`` as the most recent runs recorded them."""
        try:
            data = json.loads(self.ledger_path.read_text())
        except FileNotFoundError:
            data = {}
        return {"models": dict(data.get("models", {})), "variants": dict(data.get("variants", {}))}

    def record(
        self,
        models: Mapping[str, Mapping[str, Any]] | None = None,
        variants: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Make these fingerprints the current ones (each value holds at least ``fingerprint``).

        Called by the engine before it writes a row, so the ledger always names the fingerprints of the rows
        a later ``read`` should see; safe because one run at a time holds the folder (:mod:`.lock`).
        """
        led = self.ledger()
        led["models"].update({k: dict(v) for k, v in (models or {}).items()})
        led["variants"].update({k: dict(v) for k, v in (variants or {}).items()})
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(led, self.ledger_path)

    def current_fingerprints(self) -> tuple[set[str], set[str]]:
        led = self.ledger()
        return (
            {str(v["fingerprint"]) for v in led["models"].values()},
            {str(v["fingerprint"]) for v in led["variants"].values()},
        )

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
        model_fingerprints: Iterable[str] | None = None,
        variant_fingerprints: Iterable[str] | None = None,
        current: bool = True,
        dedupe: bool = True,
    ) -> pa.Table:
        """Stored rows as an Arrow table, reading only the parts, columns and rows asked for.

        Parts live under ``<model>/<variant>/``, so ``model_ids`` and ``variant`` prune whole files before any
        is opened; ``columns`` is pushed down to the Parquet reader (the key columns always come along so that
        duplicates can be dropped); ``model_sha256`` and the fingerprint sets are row filters. Fingerprints not
        given are the ledger's current ones unless ``current=False`` (every row on disk, stale ones included).
        Later duplicates of a key win.
        """
        files: list[Path] = []
        for mid in model_ids if model_ids is not None else [None]:  # type: ignore[list-item]
            files.extend(self._part_files(mid, variant))
        cols = (
            list(SCHEMA.names)
            if columns is None
            else [c for c in SCHEMA.names if c in set(columns) | set(KEY_COLUMNS)]
        )
        if current and (model_fingerprints is None or variant_fingerprints is None):
            led_models, led_variants = self.current_fingerprints()
            model_fingerprints = led_models if model_fingerprints is None else model_fingerprints
            variant_fingerprints = led_variants if variant_fingerprints is None else variant_fingerprints
        if not files:
            return SCHEMA.empty_table().select(cols)
        dataset = pads.dataset([str(f) for f in files], schema=SCHEMA, format="parquet")
        conds = []
        if variant is not None:
            conds.append(pc.field("variant") == variant)
        if model_sha256 is not None:
            conds.append(pc.field("model_sha256") == model_sha256)
        if model_fingerprints is not None:
            conds.append(pc.field("model_fingerprint").isin(sorted(set(model_fingerprints))))
        if variant_fingerprints is not None:
            conds.append(pc.field("variant_fingerprint").isin(sorted(set(variant_fingerprints))))
        flt = None
        for c in conds:
            flt = c if flt is None else flt & c
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
        model_fingerprints: Iterable[str] | None = None,
        variant_fingerprints: Iterable[str] | None = None,
        current: bool = True,
    ) -> pd.DataFrame:
        """Stored rows (for the given models, variant, columns, fingerprints) as pandas; see :meth:`read_table`."""
        table = self.read_table(
            model_ids,
            columns,
            variant=variant,
            model_sha256=model_sha256,
            model_fingerprints=model_fingerprints,
            variant_fingerprints=variant_fingerprints,
            current=current,
        )
        return table.to_pandas()

    def done_mask(
        self,
        model_id: str,
        model_fingerprint: str,
        variant: str,
        variant_fingerprint: str,
        samples: pd.DataFrame,
    ) -> np.ndarray:
        """Boolean array over ``samples`` rows: True where a row under exactly these fingerprints is stored.

        Vectorised (a hash join in Arrow), so resuming a million-sample run does not loop in Python.
        """
        t = self.read_table(
            [model_id],
            ["sample_id", "stamp"],
            variant=variant,
            model_fingerprints=[model_fingerprint],
            variant_fingerprints=[variant_fingerprint],
            dedupe=False,
        )
        if t.num_rows == 0:
            return np.zeros(len(samples), dtype=bool)
        done = _key_array(t["sample_id"], t["stamp"])
        want = _key_array(
            pa.array(samples["sample_id"].to_numpy(dtype=object), pa.string()),
            pa.array(samples["stamp"].to_numpy(dtype=object), pa.string()),
        )
        return pc.is_in(want, value_set=done).to_numpy(zero_copy_only=False)

    # Housekeeping: what ``ferbench store info`` and ``ferbench store prune`` show and do.

    def entries(self) -> list[StoreEntry]:
        """Every (model, variant, fingerprints) group on disk with its row and part counts, current or not."""
        models, variants = self.current_fingerprints()
        groups: dict[tuple[Any, ...], list[int]] = {}
        for f in self._part_files():
            wanted = ("model_id", "variant", "model_fingerprint", "variant_fingerprint")
            have = set(pq.read_schema(f).names)
            t = pq.read_table(f, columns=[c for c in wanted if c in have])
            d = t.to_pydict()
            n = t.num_rows
            keys = zip(
                d["model_id"],
                d["variant"],
                d.get("model_fingerprint", [None] * n),
                d.get("variant_fingerprint", [None] * n),
                strict=True,
            )
            seen: dict[tuple[Any, ...], int] = {}
            for k in keys:
                seen[k] = seen.get(k, 0) + 1
            for k, c in seen.items():
                g = groups.setdefault(k, [0, 0])
                g[0] += c
                g[1] += 1
        return [
            StoreEntry(m, v, mf, vf, rows, parts, mf in models and vf in variants)
            for (m, v, mf, vf), (rows, parts) in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))
        ]

    def prune(self) -> tuple[int, int]:
        """Delete every stored row the ledger's current fingerprints would not produce; (rows, parts) removed.

        Parts whose rows are all stale are deleted; a part holding both kinds is rewritten (atomically)
        with its current rows only. Current rows are untouched, so a pruned folder reads exactly as before.
        """
        models, variants = self.current_fingerprints()
        removed_rows = removed_parts = 0
        for f in self._part_files():
            t = pads.dataset(str(f), schema=SCHEMA, format="parquet").to_table()
            keep = pc.and_(
                pc.is_in(t["model_fingerprint"], value_set=pa.array(sorted(models), pa.string())),
                pc.is_in(t["variant_fingerprint"], value_set=pa.array(sorted(variants), pa.string())),
            )
            keep = pc.fill_null(keep, False)
            n_keep = pc.sum(keep).as_py() or 0
            if n_keep == t.num_rows:
                continue
            removed_rows += t.num_rows - n_keep
            if n_keep == 0:
                f.unlink()
                removed_parts += 1
            else:
                atomic_write_parquet(t.filter(keep), f)
        for d in (
            sorted(self.parts_dir.glob("**/"), key=lambda p: -len(p.parts)) if self.parts_dir.exists() else []
        ):
            if d != self.parts_dir and not any(d.iterdir()):
                d.rmdir()
        return removed_rows, removed_parts


def _key_array(sample_id: pa.Array | pa.ChunkedArray, stamp: pa.Array | pa.ChunkedArray) -> pa.Array:
    joined = pc.binary_join_element_wise(sample_id.cast(pa.string()), stamp.cast(pa.string()), "\x00")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


_HASH_SLICE = 65_536  # rows turned into Python strings at a time while hashing keys


def _key_hashes(table: pa.Table) -> np.ndarray:
    """(n,) 64-bit hash of each row's key (``KEY_COLUMNS``), computed a slice at a time.

    pandas' ``hash_array`` (SipHash over each string; nulls get a value of their own) per column, mixed
    column by column. Only a slice of strings is ever materialised, so the memory cost is 8 bytes a row.
    """
    h = np.zeros(table.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in KEY_COLUMNS:
            pos = 0
            for chunk in table[c].chunks:
                for start in range(0, len(chunk), _HASH_SLICE):
                    part = chunk.slice(start, _HASH_SLICE).to_numpy(zero_copy_only=False)
                    hc = pd.util.hash_array(np.asarray(part, dtype=object), categorize=False)
                    h[pos : pos + len(part)] = (h[pos : pos + len(part)] ^ hc) * np.uint64(0x100000001B3)
                    pos += len(part)
    return h


def _last_of_each_key(table: pa.Table) -> np.ndarray:
    """Ascending row indices of the last row of each exact key: grouped on each key column's dictionary
    codes (a null encoded as a value of its own, so such rows are still told apart by the other columns)."""
    codes = {
        c: pc.dictionary_encode(table[c], null_encoding="encode").combine_chunks().indices
        for c in KEY_COLUMNS
    }
    idx = (
        pa.table({**codes, "i": pa.array(np.arange(table.num_rows))})
        .group_by(list(KEY_COLUMNS), use_threads=False)
        .aggregate([("i", "max")])["i_max"]
    )
    return np.sort(idx.to_numpy())


def _drop_earlier_duplicates(table: pa.Table) -> pa.Table:
    """Keep the last row of each key (parts are read in name order, rows in write order).

    Why hashes first: duplicates are rare (a run never rewrites a stored key), and the exact grouping costs
    about 0.6 times the table in dictionaries at 200,000 rows (``benchmarks/throughput.py`` (f)), which made a
    read's peak grow faster than the table. A 64-bit hash per row finds the rows whose key *might* repeat;
    only those go through the exact grouping (a hash collision must never drop a row), and a table whose
    hashes are all distinct comes back untouched.
    """
    n = table.num_rows
    h = _key_hashes(table)
    order = np.argsort(h, kind="stable")
    same = h[order[1:]] == h[order[:-1]]
    if not same.any():
        return table
    maybe = np.zeros(n, dtype=bool)
    maybe[order[1:][same]] = True
    maybe[order[:-1][same]] = True
    cand = np.flatnonzero(maybe)
    keep = np.ones(n, dtype=bool)
    keep[cand] = False
    keep[cand[_last_of_each_key(table.take(pa.array(cand)))]] = True
    return table if keep.all() else table.filter(pa.array(keep))
