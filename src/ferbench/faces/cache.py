"""The detection cache: per sample, the faces a detector found (box, score, landmarks), stored like predictions.

Rows live in part files under ``RUN_DIR/faces/<detector key>/``, each written atomically (temporary name,
fsync, rename), so a run killed at any point leaves whole parts only and a resumed run re-detects exactly the
samples no part holds. One row per face; an image with no face (or that could not be read) has one row with
``face_index = -1`` and its ``status``. A row is reused when sample id, the file's stamp and the detector key
(detector id, weight sha256, thresholds, size cap) all match.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_write_parquet
from .types import Face

LANDMARK_COLUMNS = tuple(f"lm{i}_{a}" for i in range(5) for a in "xy")
SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("stamp", pa.string()),
        ("content_sha256", pa.string()),
        ("detector_key", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("n_faces", pa.int32()),
        ("face_index", pa.int32()),
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("w", pa.float64()),
        ("h", pa.float64()),
        ("score", pa.float64()),
        ("source", pa.string()),
        *[(c, pa.float64()) for c in LANDMARK_COLUMNS],
    ]
)
KEY = ["sample_id", "stamp", "face_index"]


def face_rows(
    sample_id: str, stamp: str, digest: str, key: str, faces: list[Face], status: str = "ok", error: str = ""
) -> list[dict[str, object]]:
    """Cache rows for one sample: one per face, or a single ``face_index = -1`` row when there is none."""
    base = {"sample_id": sample_id, "stamp": stamp, "content_sha256": digest, "detector_key": key}
    if status == "ok" and not faces:
        status, error = "no_face", f"{sample_id}: the face detector found no face"
    if not faces:
        nan = {c: np.nan for c in ("x", "y", "w", "h", "score", *LANDMARK_COLUMNS)}
        return [
            {**base, "status": status, "error": error, "n_faces": 0, "face_index": -1, "source": "", **nan}
        ]
    rows = []
    for f in faces:
        lm = f.landmarks.ravel() if f.landmarks is not None else np.full(10, np.nan)
        rows.append(
            {
                **base,
                "status": "ok",
                "error": "",
                "n_faces": len(faces),
                "face_index": f.index,
                "x": f.box[0],
                "y": f.box[1],
                "w": f.box[2],
                "h": f.box[3],
                "score": f.score,
                "source": f.source,
                **dict(zip(LANDMARK_COLUMNS, (float(v) for v in lm), strict=True)),
            }
        )
    return rows


def row_face(row: pd.Series) -> Face:
    """Rebuild a :class:`Face` from one cache row."""
    lm = row[list(LANDMARK_COLUMNS)].to_numpy(dtype=np.float64)
    landmarks = None if np.isnan(lm).any() else lm.reshape(5, 2)
    box = (float(row["x"]), float(row["y"]), float(row["w"]), float(row["h"]))
    return Face(box, float(row["score"]), landmarks, str(row["source"]), int(row["face_index"]))


class FaceStore:
    """Reads and appends detection rows under ``RUN_DIR/faces``."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(run_dir) / "faces"

    def _key_dir(self, key: str) -> Path:
        return self.dir / re.sub(r"[^A-Za-z0-9._-]+", "_", key)

    def write_part(self, rows: list[dict[str, object]], key: str) -> Path | None:
        if not rows:
            return None
        df = pd.DataFrame(rows)[list(SCHEMA.names)]
        path = self._key_dir(key) / f"part-{uuid.uuid4().hex}.parquet"
        atomic_write_parquet(pa.Table.from_pandas(df, schema=SCHEMA, preserve_index=False), path)
        return path

    def read(self, key: str) -> pd.DataFrame:
        d = self._key_dir(key)
        files = sorted(p for p in d.glob("*.parquet") if not p.name.startswith(".")) if d.exists() else []
        if not files:
            return SCHEMA.empty_table().to_pandas()
        df = pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()
        df = df[df["detector_key"] == key]
        return df.drop_duplicates(subset=KEY, keep="last").reset_index(drop=True)

    def done_keys(self, key: str) -> set[tuple[str, str]]:
        df = self.read(key)
        return set(zip(df["sample_id"], df["stamp"], strict=True))
