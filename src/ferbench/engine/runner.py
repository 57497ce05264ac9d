"""The local engine: decode samples once, run every model that still needs them in batches, store rows.

Work is split into chunks of samples in dataset order, and three stages overlap:

1. *decode*: a prefetch thread fans the next chunk out over a thread pool; per image it reads and decodes the
   file, hashes its bytes, applies the transform, then colour-converts and resizes it once per distinct
   preprocessing rule (:class:`~ferbench.models.preprocess.PixelCache`: five grey 64 px models share one grey
   conversion and one resize);
2. *infer*: every (model, batch) of a chunk is a task for an inference pool with one call in flight per core;
   each task stacks its batch's pixels, normalises them in one vectorised pass and runs the session
   (OpenCV, NumPy's ufunc loops and ONNX Runtime all release the GIL, so the stages really run in parallel);
3. *store*: while the pool works on chunk k, the main thread turns chunk k-1's outputs into Arrow rows and
   writes one atomic part per (chunk, model), so an interruption loses at most the chunks in flight.

Models whose weights fail verification are refused before any work starts, so no partial results are ever
written under a model that cannot run.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ..datasets.base import Dataset
from ..errors import SampleError
from ..faces.types import SHARED_CROP, Crops, pick_crop
from ..hashing import sha256_bytes
from ..labels import CANONICAL_LABELS
from ..models.adapter import Adapter
from ..models.cards import ModelCard
from ..models.preprocess import PixelCache, PixelKey, normalise, pixel_key
from ..models.runtime import resolve_device
from ..models.store import StoreSpec
from .store import PROB_COLUMNS, SCHEMA, PredictionStore, variant_fingerprint

ProgressFn = Callable[[int], None]
# A per-sample image transform run after decoding (face detection and cropping, a perturbation…). It gets the
# decoded BGR image and the sample's row; it returns the image the models should see (or, from the face
# stage, a ``Crops`` mapping: each model's own crop of the same face, picked by ``_ModelWork.crop``), or raises
# SampleError (e.g. "no_face"), which is recorded for that sample (any other exception is recorded too, with
# status ``exception``). Its output is cached under ``EngineOptions.variant`` and ``variant_fingerprint``: a
# caller whose transform changes must change one of them.
Transform = Callable[[np.ndarray, pd.Series], np.ndarray | Crops]

#: The status of a sample whose preparation raised something other than a SampleError (a perturbation's
#: ValueError, an OpenCV error on an odd image): recorded with the exception's type and message.
SAMPLE_EXCEPTION = "exception"

CPU_BATCH = 8  # best or near-best per-call batch for the zoo's CNNs on one core (docs/performance.md)
CUDA_BATCH = 128
# On CUDA each model gets the batch whose input tensor holds about as many values as 128 images at 112 x 112
# x 3 (a 48 px grey model gets 256, YOLO's 320 px letterbox 16): big enough to hide kernel launches, small
# enough that two batches in flight of the largest input stay a few tens of MiB.
CUDA_BATCH_VALUES = 128 * 112 * 112 * 3


def cuda_batch(card: ModelCard) -> int:
    """Images per call for ``card`` on CUDA: a power of two in [16, 256] sized by its input tensor."""
    h, w = card.preprocess.size
    per_image = h * w * card.preprocess.channels
    batch = 16
    while batch < 256 and (2 * batch) * per_image <= CUDA_BATCH_VALUES:
        batch *= 2
    return batch


@dataclass(frozen=True)
class EngineOptions:
    batch_size: int = 0  # images per model call; 0: 8 on CPU, per model on CUDA (``cuda_batch``)
    chunk_size: int = 512
    threads: int = 0  # ONNX Runtime intra-op threads per call; 0: 1 on CPU (one call per core in flight)
    decode_workers: int = 0  # 0: os.cpu_count()
    device: str = "cpu"
    variant: str = "clean"
    # Every parameter of the image pipeline behind ``variant`` (store.variant_fingerprint); "" keys on the name.
    variant_fingerprint: str = ""
    inference_workers: int = 0  # model calls in flight at once; 0: cores // threads on CPU, 2 on CUDA


@dataclass
class EngineReport:
    """What the engine did: rows computed per model, rows reused from the store, and where it ran."""

    computed: dict[str, int]
    reused: dict[str, int]
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: "setup" (load models), "compute"

    @property
    def total_computed(self) -> int:
        return sum(self.computed.values())


@dataclass(frozen=True)
class Plan:
    """How a run uses the machine, resolved once from :class:`EngineOptions` and the hardware."""

    device: str
    batch_size: int
    threads: int
    inference_workers: int
    decode_workers: int
    note: str | None = None
    batch_per_model: bool = False  # True on CUDA without an explicit batch size: ``cuda_batch`` per model

    def batch_for(self, card: ModelCard) -> int:
        return cuda_batch(card) if self.batch_per_model else self.batch_size


def plan(opts: EngineOptions, cpus: int | None = None) -> Plan:
    """Resolve the automatic options. Falls back from CUDA to CPU (with a note) when CUDA is unavailable."""
    cpus = cpus or os.cpu_count() or 1
    device, note = resolve_device(opts.device)
    if device == "cuda":
        threads = opts.threads or 1
        workers = opts.inference_workers or 2
        batch = opts.batch_size or CUDA_BATCH
    else:
        threads = opts.threads or 1
        workers = opts.inference_workers or max(1, cpus // threads)
        batch = opts.batch_size or CPU_BATCH
    per_model = device == "cuda" and not opts.batch_size
    return Plan(device, batch, threads, workers, opts.decode_workers or cpus, note, per_model)


@dataclass
class _Sample:
    """One decoded sample of a chunk: its preprocessed pixels per (crop, rule) (None when it failed)."""

    pixels: dict[tuple[str, PixelKey], np.ndarray] | None
    images: dict[str, np.ndarray] | None
    digest: str
    status: str
    error: str


@dataclass
class _ModelWork:
    card: ModelCard
    adapter: Adapter
    need: np.ndarray  # bool over the whole sample table
    key: PixelKey
    custom_prepare: bool  # an Adapter subclass with its own ``prepare``: give it raw images
    crop: str = SHARED_CROP  # which of a ``Crops`` transform output this model sees
    batch: int = 0  # images per call for this model; 0: the plan's batch size

    @property
    def pixels_key(self) -> tuple[str, PixelKey]:
        return (self.crop, self.key)


def _decode_chunk(
    dataset: Dataset,
    rows: pd.DataFrame,
    positions: np.ndarray,
    work: list[_ModelWork],
    pool: ThreadPoolExecutor,
    transform: Transform | None,
) -> list[_Sample]:
    sample_ids = rows["sample_id"].to_numpy()
    paths = rows["path"].to_numpy()
    keep_image = any(w.custom_prepare for w in work)

    def one(i: int) -> _Sample:
        digest = ""
        stage = "reading"
        try:
            img, raw = dataset.read(sample_ids[i], paths[i])
            digest = sha256_bytes(raw)
            stage = "transforming (face crop, perturbation)"
            seen: np.ndarray | Crops = img if transform is None else transform(img, rows.iloc[i])
            stage = "preprocessing"
            active = [w for w in work if w.need[positions[i]]]
            crops = {w.crop: pick_crop(seen, w.crop) for w in active}
            caches = {key: PixelCache(crop) for key, crop in crops.items()}
            pix = {
                w.pixels_key: caches[w.crop].get(w.card.preprocess) for w in active if not w.custom_prepare
            }
        except SampleError as exc:
            return _Sample(None, None, digest, exc.reason, str(exc))
        except Exception as exc:  # noqa: BLE001 - one sample's failure is recorded; the run goes on
            return _Sample(None, None, digest, SAMPLE_EXCEPTION, exception_text(sample_ids[i], stage, exc))
        return _Sample(pix, crops if keep_image else None, digest, "ok", "")

    return list(pool.map(one, range(len(rows))))


def exception_text(sample_id: object, stage: str, exc: BaseException) -> str:
    """One line for a sample's unexpected exception: which sample, at which step, type and message."""
    return f"{sample_id}: {stage} raised {type(exc).__name__}: {exc}"


def _infer_batch(w: _ModelWork, items: list[_Sample]) -> np.ndarray:
    if w.custom_prepare:
        return w.adapter.predict([s.images[w.crop] for s in items])  # type: ignore[index]
    stacked = np.stack([s.pixels[w.pixels_key] for s in items])  # type: ignore[index]
    return w.adapter.infer(normalise(stacked, w.card.preprocess))


class _ChunkColumns:
    """The per-sample columns of one chunk, built once and shared by every model's rows."""

    def __init__(self, rows: pd.DataFrame, decoded: list[_Sample]) -> None:
        self.sample_id = rows["sample_id"].to_numpy().astype(str)
        self.stamp = rows["stamp"].to_numpy().astype(str)
        self.digest = np.array([d.digest for d in decoded], dtype=object)
        self.status = np.array([d.status for d in decoded], dtype=object)
        self.error = np.array([d.error for d in decoded], dtype=object)
        self.ok = self.status == "ok"


_LABELS = np.array(CANONICAL_LABELS, dtype=object)


@dataclass(frozen=True)
class RowKeys:
    """The fingerprints the rows of one engine pass are written under (see :mod:`.store`)."""

    variant: str
    variant_fingerprint: str
    models: dict[str, str]  # model id -> model fingerprint


def row_keys(cards: Sequence[ModelCard], store: PredictionStore, opts: EngineOptions) -> RowKeys:
    """The pass's keys: each card's fingerprint (or the store's one-run stand-in) and the variant's."""
    vfp = opts.variant_fingerprint or variant_fingerprint(opts.variant)
    return RowKeys(opts.variant, vfp, {c.id: store.model_fingerprint(c) for c in cards})


def record_keys(store: PredictionStore, cards: Sequence[ModelCard], keys: RowKeys) -> None:
    """Make ``keys`` the store's current fingerprints (the ledger ``read`` and ``prune`` go by)."""
    store.record(
        {
            c.id: {
                "fingerprint": keys.models[c.id],
                "sha256": c.artifact.sha256,
                "version": c.version,
                "recorded": time.time(),
            }
            for c in cards
        },
        {keys.variant: {"fingerprint": keys.variant_fingerprint, "recorded": time.time()}},
    )


def rows_table(
    card: ModelCard, keys: RowKeys, cols: _ChunkColumns, sel: np.ndarray, canon: np.ndarray
) -> pa.Table:
    """Arrow rows for one model over the selected samples of a chunk; ``canon`` holds the ok ones in order."""
    n = int(sel.sum())
    ok = cols.ok[sel]
    probs = np.full((n, len(CANONICAL_LABELS)), np.nan)
    probs[ok] = canon
    masked = np.where(np.isnan(probs), -np.inf, probs)
    top = _LABELS[masked.argmax(axis=1)]
    conf = masked.max(axis=1)
    data: dict[str, pa.Array] = {
        "sample_id": pa.array(cols.sample_id[sel], pa.string()),
        "stamp": pa.array(cols.stamp[sel], pa.string()),
        "content_sha256": pa.array(cols.digest[sel], pa.string()),
        "model_id": pa.array(np.full(n, card.id, dtype=object), pa.string()),
        "model_sha256": pa.array(np.full(n, card.artifact.sha256, dtype=object), pa.string()),
        "variant": pa.array(np.full(n, keys.variant, dtype=object), pa.string()),
        "model_fingerprint": pa.array(np.full(n, keys.models[card.id], dtype=object), pa.string()),
        "variant_fingerprint": pa.array(np.full(n, keys.variant_fingerprint, dtype=object), pa.string()),
        "status": pa.array(cols.status[sel], pa.string()),
        "error": pa.array(cols.error[sel], pa.string()),
    }
    for j, col in enumerate(PROB_COLUMNS):
        data[col] = pa.array(probs[:, j], pa.float64())
    data["top_label"] = pa.array(np.where(ok, top, None), pa.string())
    data["confidence"] = pa.array(np.where(ok, conf, np.nan), pa.float64())
    return pa.table(data, schema=SCHEMA)


Emit = Callable[[ModelCard, pa.Table], None]


def compute(
    dataset: Dataset,
    work: list[_ModelWork],
    pl: Plan,
    *,
    keys: RowKeys,
    chunk_size: int,
    emit: Emit,
    transform: Transform | None = None,
    advance: ProgressFn = lambda n: None,
) -> None:
    """Run every model in ``work`` over the samples it needs; hand each (chunk, model) table to ``emit``."""
    samples = dataset.samples
    any_need = np.logical_or.reduce([w.need for w in work])
    positions = np.flatnonzero(any_need)
    chunks = [positions[i : i + chunk_size] for i in range(0, len(positions), chunk_size)]
    if not chunks:
        return

    Pending = tuple[_ChunkColumns, list[tuple[_ModelWork, np.ndarray, list[Future[np.ndarray]]]]]

    def submit(pos: np.ndarray, decoded: list[_Sample]) -> Pending:
        cols = _ChunkColumns(samples.iloc[pos], decoded)
        jobs = []
        for w in work:
            sel = w.need[pos]
            if not sel.any():
                continue
            items = [d for d, s, ok in zip(decoded, sel, cols.ok, strict=True) if s and ok]
            step = w.batch or pl.batch_size
            futs = [
                infer_pool.submit(_infer_batch, w, items[i : i + step]) for i in range(0, len(items), step)
            ]
            jobs.append((w, sel, futs))
        return cols, jobs

    def finish(p: Pending, strict: bool = True) -> None:
        """Write each model's rows of a chunk; a model whose call failed raises after the others are written
        (``strict=False``, on the abort path: it is skipped, the abort's own exception propagates)."""
        cols, jobs = p
        failed: BaseException | None = None
        for w, sel, futs in jobs:
            try:
                native = [f.result() for f in futs]
            except Exception as exc:  # noqa: BLE001 - re-raised below once the other models are written
                failed = failed or exc
                continue
            n_cls = len(w.card.classes)
            canon = w.adapter.to_canonical(np.concatenate(native) if native else np.zeros((0, n_cls)))
            table = rows_table(w.card, keys, cols, sel, canon)
            emit(w.card, table)
            advance(table.num_rows)
        if failed is not None and strict:
            raise failed

    with (
        ThreadPoolExecutor(max_workers=pl.decode_workers, thread_name_prefix="ferbench-decode") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferbench-prefetch") as prefetch,
        ThreadPoolExecutor(
            max_workers=pl.inference_workers, thread_name_prefix="ferbench-infer"
        ) as infer_pool,
    ):

        def decode(ci: int) -> Future[list[_Sample]]:
            pos = chunks[ci]
            return prefetch.submit(_decode_chunk, dataset, samples.iloc[pos], pos, work, pool, transform)

        nxt = decode(0)
        pending: Pending | None = None
        try:
            for ci, pos in enumerate(chunks):
                decoded = nxt.result()
                if ci + 1 < len(chunks):
                    nxt = decode(ci + 1)
                current = submit(pos, decoded)
                if pending is not None:
                    p, pending = pending, None
                    finish(p)  # chunk k-1's rows are built and written while chunk k is being inferred
                pending = current
        except BaseException:
            # An abort (a model call that raised, Ctrl-C): first write what is already computed, so a resumed
            # run loses at most the chunk in flight.
            if pending is not None:
                finish(pending, strict=False)
            raise
        if pending is not None:
            finish(pending)


def prepare_work(
    cards: Sequence[ModelCard],
    todo: dict[str, np.ndarray],
    model_store: StoreSpec,
    pl: Plan,
    crops: dict[str, str] | None = None,
) -> list[_ModelWork]:
    """Load (and sha-verify) every model that has work, before anything is computed or written.

    ``crops`` maps a model id to the key of the crop it sees when the transform returns several
    (:class:`~ferbench.faces.types.Crops`); models not in it see the shared crop.
    """
    from ..models.registry import create_adapter

    work = []
    for c in cards:
        if not todo[c.id].any():
            continue
        batch = pl.batch_for(c)
        adapter = create_adapter(c, model_store, threads=pl.threads, device=pl.device, batch_size=batch)
        probe(adapter)  # a size or class count the model rejects fails here, before anything is written
        custom = type(adapter).prepare is not Adapter.prepare
        crop = (crops or {}).get(c.id, SHARED_CROP)
        work.append(_ModelWork(c, adapter, todo[c.id], pixel_key(c.preprocess), custom, crop, batch))
    return work


def probe(adapter: Adapter) -> None:
    """One forward pass (:meth:`Adapter.probe`); a card file's error names the file too."""
    from ..errors import ModelError
    from ..models.registry import origin

    try:
        adapter.probe()
    except ModelError as exc:
        where = origin(adapter.card.id)
        if where.startswith("card "):
            raise ModelError(f"card '{where[5:]}': {exc}") from None
        raise


def pending_masks(
    dataset: Dataset, cards: Sequence[ModelCard], store: PredictionStore, keys: RowKeys
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per model, which samples still need computing (True) and how many rows are reused from the store."""
    todo: dict[str, np.ndarray] = {}
    reused: dict[str, int] = {}
    for card in cards:
        done = store.done_mask(
            card.id, keys.models[card.id], keys.variant, keys.variant_fingerprint, dataset.samples
        )
        todo[card.id] = ~done
        reused[card.id] = int(done.sum())
    return todo, reused


def announce(note: str | None) -> list[str]:
    """Print a fallback note once (stderr, so piped stdout stays clean) and return it for the report."""
    if note is None:
        return []
    print(f"ferbench: {note}", file=sys.stderr, flush=True)
    return [note]


def announce_all(notes: Sequence[str]) -> list[str]:
    """:func:`announce` each note (a model's batching fallback, …) and return them all."""
    return [n for note in notes for n in announce(note)]


def run_models(
    dataset: Dataset,
    cards: Sequence[ModelCard],
    store: PredictionStore,
    *,
    model_store: StoreSpec = None,
    options: EngineOptions | None = None,
    progress: Callable[[int, int], ProgressFn] | None = None,
    transform: Transform | None = None,
    crops: dict[str, str] | None = None,
) -> EngineReport:
    """Fill the prediction store for every (sample, model) pair of ``dataset`` × ``cards`` not yet in it.

    ``crops`` (model id → crop key) says which crop each model takes when ``transform`` returns several.
    """
    opts = options or EngineOptions()
    keys = row_keys(cards, store, opts)
    todo, reused = pending_masks(dataset, cards, store, keys)
    computed = {c.id: 0 for c in cards}
    if not any(m.any() for m in todo.values()):
        record_keys(store, cards, keys)
        return EngineReport(computed, reused, device=opts.device)
    t0 = time.perf_counter()
    pl = plan(opts)
    notes = announce(pl.note)
    work = prepare_work(cards, todo, model_store, pl, crops)
    for w in work:
        notes += announce_all(w.adapter.notes)
    # The weights are verified: from here on these fingerprints are the current ones (before any row is
    # written, so the ledger always names the rows a later read should see). A run refused earlier (a
    # missing or tampered file) leaves the ledger, and so what is current, as it was.
    record_keys(store, cards, keys)
    t1 = time.perf_counter()
    total = int(sum(w.need.sum() for w in work))
    advance = progress(total, len(work)) if progress else (lambda n: None)

    def emit(card: ModelCard, table: pa.Table) -> None:
        store.write_part(table)
        computed[card.id] += table.num_rows

    compute(
        dataset,
        work,
        pl,
        keys=keys,
        chunk_size=opts.chunk_size,
        emit=emit,
        transform=transform,
        advance=advance,
    )
    timings = {"setup": t1 - t0, "compute": time.perf_counter() - t1}
    return EngineReport(computed, reused, device=pl.device, notes=notes, timings=timings)
