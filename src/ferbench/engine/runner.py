"""The local engine: decode samples once, run every model that still needs them in batches, store rows.

Work is split into chunks of samples in dataset order. While the models run on one chunk, a thread pool
decodes the next (OpenCV's decoder and ONNX Runtime both release the GIL, so the two overlap). Each finished
(chunk, model) pair is written as one atomic part, so an interruption loses at most the chunk in flight.
Models whose weights fail verification are refused before any work starts, so no partial results are ever
written under a model that cannot run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..datasets.base import Dataset
from ..errors import SampleError
from ..hashing import sha256_bytes
from ..labels import CANONICAL_LABELS
from ..models.adapter import Adapter
from ..models.cards import ModelCard
from .store import PROB_COLUMNS, PredictionStore

ProgressFn = Callable[[int], None]
# A per-sample image transform run after decoding (face detection and cropping, a perturbation…). It gets the
# decoded BGR image and the sample's row; it returns the image the models should see, or raises SampleError
# (e.g. "no_face"), which is recorded for that sample. Its output is cached under ``EngineOptions.variant``.
Transform = Callable[[np.ndarray, pd.Series], np.ndarray]


@dataclass(frozen=True)
class EngineOptions:
    batch_size: int = 64
    chunk_size: int = 512
    threads: int = 0  # 0: let ONNX Runtime use every core
    decode_workers: int = 0  # 0: os.cpu_count()
    device: str = "cpu"
    variant: str = "clean"


@dataclass
class EngineReport:
    """What the engine did: rows computed per model, and rows reused from the store."""

    computed: dict[str, int]
    reused: dict[str, int]

    @property
    def total_computed(self) -> int:
        return sum(self.computed.values())


Decoded = list[tuple[np.ndarray | None, str, str, str]]  # image, content sha, status, error


def _decode_chunk(
    dataset: Dataset, rows: pd.DataFrame, pool: ThreadPoolExecutor, transform: Transform | None
) -> Decoded:
    def one(i: int) -> tuple[np.ndarray | None, str, str, str]:
        row = rows.iloc[i]
        digest = ""
        try:
            img, raw = dataset.read(row["sample_id"], row["path"])
            digest = sha256_bytes(raw)
            if transform is not None:
                img = transform(img, row)
        except SampleError as exc:
            return None, digest, exc.reason, str(exc)
        return img, digest, "ok", ""

    return list(pool.map(one, range(len(rows))))


def _rows_for(
    card: ModelCard, sha: str, variant: str, chunk: pd.DataFrame, decoded: Decoded, canon: np.ndarray
) -> pd.DataFrame:
    probs = np.full((len(chunk), len(CANONICAL_LABELS)), np.nan)
    ok = [i for i, d in enumerate(decoded) if d[0] is not None]
    probs[ok] = canon
    top_idx = np.nanargmax(np.where(np.isnan(probs), -np.inf, probs), axis=1)
    labels = np.array(CANONICAL_LABELS, dtype=object)[top_idx]
    conf = np.nanmax(np.where(np.isnan(probs), -np.inf, probs), axis=1)
    okmask = np.zeros(len(chunk), bool)
    okmask[ok] = True
    df = pd.DataFrame(
        {
            "sample_id": chunk["sample_id"].to_numpy(),
            "stamp": chunk["stamp"].to_numpy(),
            "content_sha256": [d[1] for d in decoded],
            "model_id": card.id,
            "model_sha256": sha,
            "variant": variant,
            "status": [d[2] for d in decoded],
            "error": [d[3] for d in decoded],
        }
    )
    for j, col in enumerate(PROB_COLUMNS):
        df[col] = probs[:, j]
    df["top_label"] = np.where(okmask, labels, None)
    df["confidence"] = np.where(okmask, conf, np.nan)
    return df


def run_models(
    dataset: Dataset,
    cards: Sequence[ModelCard],
    store: PredictionStore,
    *,
    model_store: str | os.PathLike[str] | None = None,
    options: EngineOptions | None = None,
    progress: Callable[[int, int], ProgressFn] | None = None,
    transform: Transform | None = None,
) -> EngineReport:
    """Fill the prediction store for every (sample, model) pair of ``dataset`` × ``cards`` not yet in it."""
    opts = options or EngineOptions()
    samples = dataset.samples
    keys = list(zip(samples["sample_id"], samples["stamp"], strict=True))
    todo: dict[str, np.ndarray] = {}
    reused: dict[str, int] = {}
    for card in cards:
        done = store.done_keys(card.id, card.artifact.sha256, opts.variant)
        need = np.array([k not in done for k in keys], dtype=bool)
        todo[card.id] = need
        reused[card.id] = int((~need).sum())
    active = [c for c in cards if todo[c.id].any()]
    computed = {c.id: 0 for c in cards}
    if not active:
        return EngineReport(computed, reused)

    # Load (and sha-verify) every model that has work before touching the store.
    adapters = {c.id: Adapter(c, model_store, threads=opts.threads, device=opts.device) for c in active}
    total = int(sum(todo[c.id].sum() for c in active))
    advance = progress(total, len(active)) if progress else (lambda n: None)

    any_need = np.logical_or.reduce([todo[c.id] for c in active])
    positions = np.flatnonzero(any_need)
    chunks = [positions[i : i + opts.chunk_size] for i in range(0, len(positions), opts.chunk_size)]
    workers = opts.decode_workers or (os.cpu_count() or 1)
    # One thread prefetches the next chunk (fanning its decoding out over ``pool``) while models run.
    with ThreadPoolExecutor(max_workers=workers) as pool, ThreadPoolExecutor(max_workers=1) as prefetch:
        nxt: Future[Decoded] | None = None
        if chunks:
            nxt = prefetch.submit(_decode_chunk, dataset, samples.iloc[chunks[0]], pool, transform)
        for ci, pos in enumerate(chunks):
            assert nxt is not None
            decoded = nxt.result()
            if ci + 1 < len(chunks):
                nxt = prefetch.submit(_decode_chunk, dataset, samples.iloc[chunks[ci + 1]], pool, transform)
            chunk_rows = samples.iloc[pos]
            for card in active:
                sel = todo[card.id][pos]
                if not sel.any():
                    continue
                sub_rows = chunk_rows[sel]
                sub_dec = [d for d, s in zip(decoded, sel, strict=True) if s]
                adapter = adapters[card.id]
                images = [d[0] for d in sub_dec if d[0] is not None]
                native = [
                    adapter.predict(images[i : i + opts.batch_size])
                    for i in range(0, len(images), opts.batch_size)
                ]
                canon = adapter.to_canonical(np.concatenate(native)) if native else np.zeros((0, 8))
                rows = _rows_for(card, card.artifact.sha256, opts.variant, sub_rows, sub_dec, canon)
                store.write_part(rows)
                computed[card.id] += len(rows)
                advance(len(rows))
    return EngineReport(computed, reused)
