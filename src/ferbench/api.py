"""The Python API behind ``ferbench run``: dataset → engine → metrics → files."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from .datasets import Dataset, load_dataset
from .engine import EngineOptions, EngineReport, PredictionStore, run_models
from .engine.store import atomic_write_parquet
from .errors import FerbenchError
from .evaluate import EvaluatedPredictions, evaluate
from .labels import CANONICAL_LABELS
from .models import resolve_models
from .models.cards import ModelCard
from .provenance import dataset_fingerprint, provenance

LABEL_RULE = (
    "Each model's probabilities are restricted to the dataset's evaluated labels that the model has and "
    "renormalised; the prediction is their arg-max. Mass on other classes is dropped (see dropped_mass); a "
    "model lacking an evaluated label never predicts it."
)


@dataclass
class RunResult:
    """What ``run`` produced: paths, the metrics document, and per-item evaluated predictions."""

    out: Path
    metrics: dict[str, Any]
    engine: EngineReport
    evaluated: EvaluatedPredictions
    dataset: Dataset
    cards: list[ModelCard]

    @property
    def predictions_path(self) -> Path:
        return self.out / "predictions.parquet"

    @property
    def metrics_path(self) -> Path:
        return self.out / "metrics.json"

    @property
    def report_path(self) -> Path:
        return self.out / "report.html"


def write_json_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text_atomic(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run(
    dataset: str | Dataset,
    *,
    out: str | os.PathLike[str],
    models: str | Sequence[str] = "all",
    data_root: str | os.PathLike[str] | None = None,
    split: str | None = None,
    limit: int | None = None,
    model_store: str | os.PathLike[str] | None = None,
    options: EngineOptions | None = None,
    seed: int = 0,
    command: str | None = None,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    write_report: bool = True,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> RunResult:
    """Run models over a dataset, store per-item predictions, and write ``metrics.json`` and ``report.html``.

    Re-running with the same ``out`` reuses every stored prediction; only missing (sample, model) pairs are
    computed, so an interrupted run resumes where it stopped. ``engine="ray"`` computes them on a Ray cluster
    (``address``: ``auto``, ``HOST:PORT``, or None for a local instance; ``workers``: model actors) and
    writes the same store.
    """
    if engine not in ("local", "ray"):
        raise FerbenchError(f"unknown engine '{engine}'; use 'local' or 'ray'")
    if isinstance(dataset, Dataset):
        ds = dataset.select(split, limit, seed)
    else:
        if data_root is None:
            raise ValueError("data_root is required when dataset is given by name")
        ds = load_dataset(dataset, data_root).select(split, limit, seed)
    cards = resolve_models(models, model_store)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = PredictionStore(out_dir)
    if engine == "ray":
        from .engine.ray_engine import run_models_ray

        report = run_models_ray(
            ds,
            cards,
            store,
            model_store=model_store,
            options=options,
            progress=progress,
            address=address,
            workers=workers,
        )
    else:
        report = run_models(ds, cards, store, model_store=model_store, options=options, progress=progress)

    ids = [c.id for c in cards]
    preds = store.read(ids)
    variant = (options or EngineOptions()).variant
    metrics_core, ev = evaluate(preds, ds.samples, cards, ds.labels, seed=seed, variant=variant)

    # Consolidated per-item table for this run: the dataset's columns joined with every model's row.
    current = ds.samples.merge(
        preds[preds["variant"] == variant], on=["sample_id", "stamp"], how="inner", validate="one_to_many"
    )
    atomic_write_parquet(pa.Table.from_pandas(current, preserve_index=False), out_dir / "predictions.parquet")
    first = current.drop_duplicates("sample_id")
    fingerprint = dataset_fingerprint(first)

    metrics: dict[str, Any] = {
        "dataset": ds.name,
        "split": split,
        "n_samples": len(ds),
        # label-file rows that did not become samples (e.g. AffectNet None/Uncertain/No-Face), by reason
        "excluded": ds.exclusion_counts(),
        "labels": list(ds.labels),
        "canonical_labels": list(CANONICAL_LABELS),
        "label_rule": LABEL_RULE,
        **metrics_core,
        "provenance": provenance(
            cards,
            fingerprint,
            command or shlex.join(sys.argv),
            seed,
            {
                "data_root": str(ds.root),
                "limit": limit,
                "engine": {
                    "computed": report.computed,
                    "reused": report.reused,
                    "name": engine,
                    "device": report.device,
                    "notes": report.notes,
                },
            },
        ),
    }
    write_json_atomic(metrics, out_dir / "metrics.json")
    result = RunResult(out_dir, metrics, report, ev, ds, list(cards))
    if write_report:
        from .report import write_report as _write

        _write(result)
    return result
