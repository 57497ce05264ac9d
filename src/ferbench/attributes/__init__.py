"""Optional ESTIMATED attributes (age band, gender) for datasets without demographic metadata; off by default.

``estimate_attributes`` runs face-api.js's AgeGenderNet (:mod:`ferbench.attributes.agegender`) on every
sample and returns columns prefixed ``est_`` that ``--groups`` can use (``--groups est_gender,est_age_band``).
These are a model's guesses from a face image, not facts about a person: they carry the estimating model's
own biases, and the report says so wherever they are used.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..datasets.base import Dataset
from ..engine.store import atomic_write_parquet
from ..faces.types import SHARED_CROP, Crops, pick_crop
from ..models.store import StoreSpec, store_paths
from .agegender import FOLDER, GENDERS, SHA256, WEIGHTS, AgeGenderNet

ESTIMATED_COLUMNS = ("est_gender", "est_gender_probability", "est_age", "est_age_band")
AGE_BANDS = ((0, 20, "0-19"), (20, 40, "20-39"), (40, 60, "40-59"), (60, 1000, "60+"))
ESTIMATOR = (
    f"face-api.js AgeGenderNet (npm @vladmandic/face-api@1.7.15, {WEIGHTS} sha256 {SHA256[WEIGHTS][:12]}…)"
)
CACHE = "attributes.parquet"

Transform = Callable[[np.ndarray, pd.Series], np.ndarray | Crops]


def age_band(age: float) -> str | None:
    if not np.isfinite(age):
        return None
    for lo, hi, name in AGE_BANDS:
        if lo <= age < hi:
            return name
    return AGE_BANDS[-1][2] if age >= AGE_BANDS[-1][0] else AGE_BANDS[0][2]


def estimate_attributes(
    dataset: Dataset,
    *,
    model_store: StoreSpec = None,
    cache_dir: str | os.PathLike[str] | None = None,
    transform: Transform | None = None,
    variant_fingerprint: str = "",
    batch: int = 64,
) -> pd.DataFrame:
    """One row per sample: ``sample_id`` and the ``est_*`` columns (None where the image could not be read).

    With ``cache_dir``, results are kept in ``cache_dir/attributes.parquet`` keyed by sample id, stamp, the
    weights' sha256 and ``variant_fingerprint`` (the fingerprint of what ``transform`` does: estimates made
    on whole images are not reused for face crops), and only new samples are computed on a re-run.
    """
    folders = [p / FOLDER for p in store_paths(model_store)] or [Path(FOLDER)]
    net = AgeGenderNet(next((f for f in folders if (f / WEIGHTS).is_file()), folders[0]))
    samples = dataset.samples
    cached = others = pd.DataFrame()
    path = None
    if cache_dir is not None:
        path = os.path.join(os.fspath(cache_dir), CACHE)
        if os.path.exists(path):
            stored = pd.read_parquet(path)
            if "variant_fingerprint" not in stored.columns:
                stored["variant_fingerprint"] = None  # written before variants were keyed: never reused
            cached = stored[
                (stored["weights_sha256"] == SHA256[WEIGHTS])
                & (stored["variant_fingerprint"] == variant_fingerprint)
            ]
            others = stored.drop(cached.index)
    done = set(zip(cached.get("sample_id", []), cached.get("stamp", []), strict=True))
    todo = samples[[(s, t) not in done for s, t in zip(samples["sample_id"], samples["stamp"], strict=True)]]

    def read(i: int) -> np.ndarray | None:
        row = todo.iloc[i]
        try:
            img, _ = dataset.read(row["sample_id"], row["path"])
            out = transform(img, row) if transform is not None else img
            return pick_crop(out, SHARED_CROP)  # the run's crop when the face stage gives several
        except Exception:  # noqa: BLE001 - SampleError or any other: that sample gets no estimate
            return None

    rows = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for start in range(0, len(todo), batch):
            imgs = list(pool.map(read, range(start, min(start + batch, len(todo)))))
            ok = [i for i, im in enumerate(imgs) if im is not None]
            crops = [im for im in imgs if im is not None]
            age, prob = net.predict(crops) if crops else (np.zeros(0), np.zeros((0, 2)))
            est_age = np.full(len(imgs), np.nan)
            est_prob = np.full((len(imgs), 2), np.nan)
            est_age[ok], est_prob[ok] = age, prob
            part = todo.iloc[start : start + len(imgs)]
            for j, (sid, stamp) in enumerate(zip(part["sample_id"], part["stamp"], strict=True)):
                good = np.isfinite(est_age[j])
                k = int(np.nanargmax(est_prob[j])) if good else -1
                rows.append(
                    {
                        "sample_id": sid,
                        "stamp": stamp,
                        "weights_sha256": SHA256[WEIGHTS],
                        "variant_fingerprint": variant_fingerprint,
                        "est_gender": GENDERS[k] if good else None,
                        "est_gender_probability": float(est_prob[j, k]) if good else None,
                        "est_age": float(est_age[j]) if good else None,
                        "est_age_band": age_band(float(est_age[j])) if good else None,
                    }
                )
    table = pd.concat([cached, pd.DataFrame(rows)], ignore_index=True) if rows else cached
    if path is not None and rows:  # rows of other weights or variants are kept, just not used here
        everything = pd.concat([others, table], ignore_index=True) if len(others) else table
        atomic_write_parquet(pa.Table.from_pandas(everything, preserve_index=False), Path(path))
    keys = samples[["sample_id", "stamp"]]
    merged = keys.merge(table, on=["sample_id", "stamp"], how="left")
    return merged[["sample_id", *ESTIMATED_COLUMNS]]


def with_estimated_attributes(dataset: Dataset, attrs: pd.DataFrame) -> Dataset:
    """A copy of ``dataset`` whose sample table carries the ``est_*`` columns."""
    samples = dataset.samples.drop(columns=[c for c in ESTIMATED_COLUMNS if c in dataset.samples.columns])
    samples = samples.merge(attrs, on="sample_id", how="left", validate="one_to_one")
    return dataclasses.replace(dataset, samples=samples)


__all__ = ["AGE_BANDS", "ESTIMATED_COLUMNS", "ESTIMATOR", "AgeGenderNet", "estimate_attributes", "age_band"]
