"""The Ray engine: the local engine's pipeline, sharded over Ray actors, writing the same prediction store.

The driver (the process that runs ``ferbench run --engine ray``) works out which (sample, model) pairs are
missing from the store exactly as the local engine does, cuts the samples that need work into shards in
dataset order and hands them to a pool of model actors. Each actor loads and sha-verifies every model once
(on its own node, from the model store path, which must exist there), then runs the local engine's
decode → infer pipeline over each shard it gets and returns Arrow rows. Only the driver writes the store, one
atomic part per (shard, model), so resuming, the row format and every metric are the same as with the local
engine; a killed run loses at most the shards in flight.

GPU-aware: with ``device="cuda"`` and GPUs in the cluster, each actor asks Ray for its share of a GPU
(``num_gpus``), so Ray places actors on GPU nodes; without GPUs in the cluster the run goes on on CPUs and
says so. Needs ``pip install 'ferbench[ray]'`` on the driver and on every node (see ``docs/scaling.md``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..datasets.base import Dataset
from ..errors import FerbenchError
from ..faces.types import SHARED_CROP
from ..models.cards import ModelCard
from ..models.store import StoreSpec
from .runner import (
    EngineOptions,
    EngineReport,
    Plan,
    ProgressFn,
    RowKeys,
    Transform,
    _ModelWork,
    announce,
    compute,
    pending_masks,
    plan,
    prepare_work,
    record_keys,
    row_keys,
)
from .store import PredictionStore

RAY_MISSING = "--engine ray needs Ray on this machine and on every node: pip install 'ferbench[ray]'"


def _import_ray():  # type: ignore[no-untyped-def]
    try:
        import ray
    except ImportError:
        raise FerbenchError(RAY_MISSING) from None
    return ray


def shard_dataset(dataset: Dataset, positions: np.ndarray) -> Dataset:
    """The samples at ``positions`` as a dataset of the same type (pixel rows trimmed to the shard)."""
    samples = dataset.samples.iloc[positions]
    pixels = dataset.pixels
    if pixels is not None:
        pixels = {sid: pixels[sid] for sid in samples["sample_id"] if sid in pixels}
    return dataclasses.replace(dataset, samples=samples.copy(), pixels=pixels)


class ModelWorker:
    """What one Ray actor holds: the models it has been asked for (loaded once each) and a pipeline plan.

    Models load lazily, on the first shard that needs them, and stay loaded: a driver that calls the engine
    again (another perturbation, another model subset) reuses the actors and their sessions.
    """

    def __init__(self, model_store: str | list[str] | None, options: EngineOptions, cpus: int) -> None:
        opts = dataclasses.replace(
            options,
            inference_workers=options.inference_workers or cpus,
            decode_workers=options.decode_workers or cpus,
        )
        self.plan: Plan = plan(opts, cpus=cpus)
        self.model_store = model_store
        self.chunk_size = opts.chunk_size
        self.loaded: dict[tuple[str, str | None], _ModelWork] = {}

    def info(self) -> dict[str, Any]:
        return {"device": self.plan.device, "note": self.plan.note, "pid": os.getpid()}

    def _model(self, card: ModelCard) -> _ModelWork:
        key = (card.id, card.fingerprint)
        if key not in self.loaded:
            self.loaded[key] = prepare_work(
                [card], {card.id: np.ones(1, dtype=bool)}, self.model_store, self.plan
            )[0]
        return self.loaded[key]

    def run(
        self,
        shard: Dataset,
        cards: list[ModelCard],
        need: dict[str, np.ndarray],
        keys: RowKeys,
        transform: Transform | None,
        crops: dict[str, str] | None = None,
    ) -> list[tuple[str, pa.Table]]:
        work = []
        for card in cards:
            if need[card.id].any():
                w = self._model(card)
                crop = (crops or {}).get(card.id, SHARED_CROP)
                work.append(
                    _ModelWork(card, w.adapter, need[card.id], w.key, w.custom_prepare, crop, w.batch)
                )
        out: dict[str, list[pa.Table]] = {}
        compute(
            shard,
            work,
            self.plan,
            keys=keys,
            chunk_size=self.chunk_size,
            emit=lambda card, table: out.setdefault(card.id, []).append(table),
            transform=transform,
        )
        # One table per model per shard: the driver writes one part each.
        return [(mid, pa.concat_tables(tables)) for mid, tables in out.items()]


# The actor pool kept alive between calls while the driver stays connected to the same Ray cluster. Only one:
# idle actors hold their CPUs (and GPUs), so a pool of a different shape replaces it instead of queueing
# behind it.
_ACTORS: dict[tuple[Any, ...], list[Any]] = {}


def _actors(ray: Any, key: tuple[Any, ...], make: Callable[[], list[Any]], keep: bool) -> list[Any]:
    full = (ray.get_runtime_context().get_job_id(), *key)
    if full in _ACTORS:
        return _ACTORS[full]
    for old_key in list(_ACTORS):
        for actor in _ACTORS.pop(old_key):
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone with a previous Ray session
                pass
    actors = make()
    if keep:
        _ACTORS[full] = actors
    return actors


def _store_arg(model_store: Any) -> str | list[str] | None:
    """The model store spec in a form that pickles to any node (paths as strings)."""
    if model_store is None:
        return None
    if isinstance(model_store, str | os.PathLike):
        return os.fspath(model_store)
    return [os.fspath(p) for p in model_store]


def _init_ray(ray: Any, address: str | None, workers: int | None) -> bool:
    """Join ``address`` or start a local instance; return True when this call started Ray (and must stop it)."""
    if ray.is_initialized():
        return False
    if address is None:
        # A local instance: make this checkout's ferbench importable in the workers, whatever PYTHONPATH is.
        src = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": path}},
        )
    else:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except ConnectionError as exc:
            raise FerbenchError(f"--address {address}: cannot join a Ray cluster there ({exc})") from None
    return True


def run_models_ray(
    dataset: Dataset,
    cards: Sequence[ModelCard],
    store: PredictionStore,
    *,
    model_store: StoreSpec = None,
    options: EngineOptions | None = None,
    progress: Callable[[int, int], ProgressFn] | None = None,
    transform: Transform | None = None,
    crops: dict[str, str] | None = None,
    address: str | None = None,
    workers: int | None = None,
    shard_size: int | None = None,
) -> EngineReport:
    """Fill the prediction store like :func:`~ferbench.engine.runner.run_models`, computing on Ray actors."""
    ray = _import_ray()
    opts = options or EngineOptions()
    keys = row_keys(cards, store, opts)
    todo, reused = pending_masks(dataset, cards, store, keys)
    computed = {c.id: 0 for c in cards}
    if not any(m.any() for m in todo.values()):
        record_keys(store, cards, keys)
        return EngineReport(computed, reused, device=opts.device)
    active = [c for c in cards if todo[c.id].any()]
    # Verify every model's weights here first: a tampered file fails before any actor starts.
    from ..models.store import verified_weight_path

    for c in active:
        if c.runtime == "callable":
            raise FerbenchError(
                f"model '{c.id}' is a Python callable, which lives only in this process; "
                "run it with the local engine (engine='local')"
            )
        verified_weight_path(c, model_store)
    record_keys(store, cards, keys)  # weights verified: these fingerprints are now the current ones

    t0 = time.perf_counter()
    started = _init_ray(ray, address, workers)
    try:
        resources = ray.cluster_resources()
        cluster_cpus = int(resources.get("CPU", 0))
        n_workers = workers or max(1, cluster_cpus)
        if n_workers > cluster_cpus:
            raise FerbenchError(
                f"--workers {n_workers}: the Ray cluster has {cluster_cpus} CPUs and each model actor needs one; "
                "use fewer workers or add nodes"
            )
        notes: list[str] = []
        device = opts.device
        gpus_per_actor = 0.0
        if device == "cuda":
            gpus = float(resources.get("GPU", 0))
            if gpus <= 0:
                device = "cpu"
                notes += announce("device 'cuda' requested but the Ray cluster has no GPUs; running on CPUs")
            else:
                gpus_per_actor = min(1.0, gpus / n_workers)
        actor_opts = dataclasses.replace(opts, device=device)
        store_arg = _store_arg(model_store)
        Actor = ray.remote(num_cpus=1, num_gpus=gpus_per_actor)(ModelWorker)
        store_key = tuple(store_arg) if isinstance(store_arg, list) else store_arg
        key = (store_key, device, opts.threads, opts.batch_size, opts.chunk_size, n_workers, gpus_per_actor)
        actors = _actors(
            ray,
            key,
            lambda: [Actor.remote(store_arg, actor_opts, 1) for _ in range(n_workers)],
            keep=not started,
        )
        infos = ray.get([a.info.remote() for a in actors])
        for note in {i["note"] for i in infos if i["note"]}:
            notes += announce(f"on a Ray worker: {note}")
        actor_device = infos[0]["device"]
        t1 = time.perf_counter()

        any_need = np.logical_or.reduce([todo[c.id] for c in active])
        positions = np.flatnonzero(any_need)
        size = shard_size or opts.chunk_size
        shards = [positions[i : i + size] for i in range(0, len(positions), size)]
        total = int(sum(todo[c.id].sum() for c in active))
        advance = progress(total, len(active)) if progress else (lambda n: None)
        transform_ref = ray.put(transform)

        from ray.util import ActorPool

        pool = ActorPool(actors)

        def task(actor: Any, pos: np.ndarray) -> Any:
            need = {c.id: todo[c.id][pos] for c in active}
            return actor.run.remote(shard_dataset(dataset, pos), active, need, keys, transform_ref, crops)

        for result in pool.map_unordered(task, shards):
            for model_id, table in result:
                store.write_part(table)
                computed[model_id] += table.num_rows
                advance(table.num_rows)
        t2 = time.perf_counter()
    finally:
        if started:
            ray.shutdown()
    timings = {"setup": t1 - t0, "compute": t2 - t1, "workers": float(n_workers)}
    return EngineReport(computed, reused, device=actor_device, notes=notes, timings=timings)
