"""The Python API behind ``ferbench run``: dataset → engine → metrics → files."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from .atomic import write_json_atomic
from .datasets import Dataset, load_dataset
from .engine import EngineOptions, EngineReport, PredictionStore, run_models
from .engine.lock import RunLock
from .engine.store import atomic_write_parquet
from .errors import FerbenchError
from .evaluate import EvaluatedPredictions, evaluate
from .fingerprint import variant_fingerprint
from .labels import CANONICAL_LABELS, DEFAULT_LABEL_RULE, LABEL_RULES
from .models import resolve_models
from .models.cards import ModelCard
from .models.store import StoreSpec
from .provenance import dataset_fingerprint, provenance


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


def _engine(engine: str, address: str | None, workers: int | None) -> Callable[..., EngineReport]:
    """The function that fills the store for one variant: the local engine, or Ray bound to a cluster."""
    if engine == "ray":
        from functools import partial

        from .engine.ray_engine import run_models_ray

        return partial(run_models_ray, address=address, workers=workers)
    return run_models


def _engine_record(report: EngineReport, engine: str | None = None) -> dict[str, Any]:
    """What provenance keeps of an engine pass: counts always; engine, device and notes for the main pass."""
    out: dict[str, Any] = {"computed": report.computed, "reused": report.reused}
    if engine is not None:
        out.update(name=engine, device=report.device, notes=report.notes)
    return out


def run(
    dataset: str | Dataset,
    *,
    out: str | os.PathLike[str],
    models: str | Sequence[str] = "all",
    data_root: str | os.PathLike[str] | None = None,
    split: str | None = None,
    limit: int | None = None,
    model_store: StoreSpec = None,
    options: EngineOptions | None = None,
    seed: int = 0,
    command: str | None = None,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    write_report: bool = True,
    groups: str | Sequence[str] | None = None,
    perturb: str | Sequence[str] | None = None,
    estimate_attributes: bool = False,
    faces: str | None = None,
    multi_face: str = "largest",
    face_margin: float | None = None,
    face_align: bool = False,
    own_crops: bool = True,
    dataset_options: dict[str, Any] | None = None,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    wait: bool = False,
) -> RunResult:
    """Run models over a dataset, store per-item predictions, and write ``metrics.json`` and ``report.html``.

    Re-running with the same ``out`` reuses every stored prediction; only missing (sample, model) pairs are
    computed, so an interrupted run resumes where it stopped. ``engine="ray"`` computes them on a Ray cluster
    (``address``: ``auto``, ``HOST:PORT``, or None for a local instance; ``workers``: model actors) and
    writes the same store, perturbed variants included.

    ``groups`` (``"gender,race"``; ``"a+b"`` for an intersection) adds the ``fairness`` section: metrics per
    value of those sample-table columns. ``perturb`` (``"mask,blur:3,noise:1-5"`` or a suite such as
    ``"standard"``) also runs every model on perturbed copies of each face, each cached under its own
    variant, and adds the ``robustness`` section (see ``docs/robustness.md``, ``docs/fairness.md``).
    ``faces`` (``yunet``, ``rfb320``, ``haar`` or ``dataset``; None/``none``: use images as they are) runs the
    face stage first (see :mod:`ferbench.faces.stage`): detections are cached under ``out/faces``, the models
    see the crops, and predictions are stored under the variant ``face:<detector>:<policy>``; perturbations
    and attribute estimation then work on those crops. A model whose card declares its own face preparation
    gets its own crop of the same face unless ``own_crops=False`` (see :mod:`ferbench.faces.prep`).
    ``dataset_options`` go to the dataset loader (e.g.
    ``{"fps": 2}`` for ``video-folder``). One run holds ``out`` at a time: another run into the same folder
    raises :class:`~ferbench.engine.lock.FolderBusy` at once, or with ``wait=True`` waits for it to finish.
    """
    from .metrics.groups import check_group_columns, parse_groups
    from .perturb import parse_perturb, run_perturbations

    if engine not in ("local", "ray"):
        raise FerbenchError(f"unknown engine '{engine}'; use 'local' or 'ray'")
    groupings = parse_groups(groups)
    perturb_specs = parse_perturb(perturb)  # bad names / severities fail before any slow work
    face_cfg = None
    if faces and faces != "none":  # check the face options before any slow work
        from .faces.crop import DEFAULT_MARGIN
        from .faces.stage import FaceStageConfig

        margin = DEFAULT_MARGIN if face_margin is None else face_margin
        face_cfg = FaceStageConfig(faces, multi_face, margin, face_align, own_crops=own_crops)
    if isinstance(dataset, Dataset):
        ds = dataset.select(split, limit, seed)
    else:
        if data_root is None:
            raise ValueError("data_root is required when dataset is given by name")
        ds = load_dataset(dataset, data_root, **(dataset_options or {})).select(split, limit, seed)
    if estimate_attributes:  # check the other columns before any slow work
        from .attributes import ESTIMATED_COLUMNS

        check_group_columns(ds.samples.assign(**dict.fromkeys(ESTIMATED_COLUMNS)), groupings)
    else:
        check_group_columns(ds.samples, groupings)
    cards = resolve_models(models, model_store)
    out_dir = Path(out)
    # One run per folder: a second run into ``out`` fails fast (or waits); the kernel frees the lock of a
    # killed run, so resuming after ``kill -9`` just works.
    with RunLock(out_dir, wait=wait, command=command or shlex.join(sys.argv)):
        store = PredictionStore(out_dir)
        opts = options or EngineOptions()
        transform = None
        crops: dict[str, str] | None = None
        faces_info: dict[str, Any] | None = None
        if face_cfg is not None:
            from .faces.stage import prepare_face_stage

            stage = prepare_face_stage(
                ds, face_cfg, out_dir, model_store=model_store, workers=opts.decode_workers, cards=cards
            )
            ds, transform, faces_info, crops = stage.dataset, stage.transform, stage.info, stage.crops
            if opts.variant == "clean":
                opts = replace(opts, variant=stage.variant, variant_fingerprint=stage.fingerprint)
            else:
                name = f"{stage.variant}+{opts.variant}"
                inner = opts.variant_fingerprint or variant_fingerprint(opts.variant)
                fp = variant_fingerprint(name, {"faces": stage.fingerprint, "then": inner})
                opts = replace(opts, variant=name, variant_fingerprint=fp)
        estimated = None
        if estimate_attributes:
            from .attributes import ESTIMATOR, with_estimated_attributes
            from .attributes import estimate_attributes as _estimate

            est = _estimate(
                ds,
                model_store=model_store,
                cache_dir=out_dir,
                transform=transform,
                variant_fingerprint=opts.variant_fingerprint or variant_fingerprint(opts.variant),
            )
            ds = with_estimated_attributes(ds, est)
            estimated = ESTIMATOR
            check_group_columns(ds.samples, groupings)
        compute = _engine(engine, address, workers)
        # Voted faces without a label (FER+ ties...) are scored too, for the people-vs-models statistics
        # only; the face stage has already replaced the samples with crops, so with it they are left out.
        scored = ds.with_vote_only() if face_cfg is None else ds
        report = compute(
            scored,
            cards,
            store,
            model_store=model_store,
            options=opts,
            progress=progress,
            transform=transform,
            crops=crops,
        )
        perturbed, perturb_reports = run_perturbations(
            ds,
            cards,
            store,
            perturb_specs,
            seed=seed,
            options=opts,
            base_transform=transform,
            model_store=model_store,
            progress=progress,
            engine=compute,
            crops=crops,
        )

        ids = [c.id for c in cards]
        # Only rows under this run's fingerprints: rows an older card, other weights or other stage settings
        # made stay on disk (``ferbench store info``) but never reach the metrics or predictions.parquet.
        preds = store.read(ids, model_fingerprints=[store.model_fingerprint(c) for c in cards])
        variant = opts.variant
        section_options: dict[str, Any] = {
            "groups": groupings,
            "perturb": perturbed,
            "variant": variant,
            "estimator": estimated,
        }
        if faces_info:
            section_options["faces"] = faces_info
        if scored is not ds:
            section_options["vote_faces"] = scored.samples
        metrics_core, ev = evaluate(
            preds, ds.samples, cards, ds.labels, seed=seed, variant=variant, options=section_options
        )
        from .faces.prep import face_prep_record

        for c in cards:  # what crop each model got: its own, the shared one, or the plain resize of the image
            metrics_core["models"][c.id]["face_prep"] = face_prep_record(c, faces_info)

        # Consolidated per-item table for this run: the dataset's columns joined with every model's row.
        current = ds.samples.merge(
            preds[preds["variant"] == variant], on=["sample_id", "stamp"], how="inner", validate="one_to_many"
        )
        atomic_write_parquet(
            pa.Table.from_pandas(current, preserve_index=False), out_dir / "predictions.parquet"
        )
        first = current.drop_duplicates("sample_id")
        if scored is not ds:  # vote-only faces enter the humans section, so they enter the fingerprint too
            first = scored.samples.merge(
                preds[preds["variant"] == variant],
                on=["sample_id", "stamp"],
                how="inner",
                validate="one_to_many",
            ).drop_duplicates("sample_id")
        fingerprint = dataset_fingerprint(first)

        metrics: dict[str, Any] = {
            "dataset": ds.name,
            "split": split,
            "n_samples": len(ds),
            # label-file rows that did not become samples (e.g. AffectNet None/Uncertain/No-Face), by reason
            "excluded": ds.exclusion_counts(),
            "labels": list(ds.labels),
            "canonical_labels": list(CANONICAL_LABELS),
            "label_rule": DEFAULT_LABEL_RULE,  # what every section uses unless it says otherwise
            "label_rules": LABEL_RULES,
            **metrics_core,
            "provenance": provenance(
                cards,
                fingerprint,
                command or shlex.join(sys.argv),
                seed,
                {
                    "data_root": str(ds.root),
                    "limit": limit,
                    "engine": _engine_record(report, engine),
                    **(
                        {"perturb_engine": {v: _engine_record(r) for v, r in perturb_reports.items()}}
                        if perturb_reports
                        else {}
                    ),
                    **({"faces": faces_info} if faces_info else {}),
                    **({"dataset_options": dataset_options} if dataset_options else {}),
                    **({"vote_only_faces": len(scored) - len(ds)} if scored is not ds else {}),
                },
            ),
        }
        write_json_atomic(metrics, out_dir / "metrics.json")
        result = RunResult(out_dir, metrics, report, ev, ds, list(cards))
        if write_report:
            from .report import write_report as _write

            _write(result)
        return result
