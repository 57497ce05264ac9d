"""The Python API behind ``ferbench run``: dataset → engine → metrics → files."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .analysis import evaluate
from .atomic import write_json_atomic
from .datasets import Dataset, load_dataset
from .engine import EngineOptions, EngineReport, PredictionStore, run_models
from .engine.lock import RunLock
from .engine.store import atomic_write_parquet
from .errors import FerbenchError
from .evaluate import EvaluatedPredictions, restrict
from .fingerprint import variant_fingerprint
from .labels import CANONICAL_LABELS, DEFAULT_LABEL_RULE, LABEL_RULES
from .models import resolve_models
from .models.cards import ModelCard
from .models.store import StoreSpec
from .provenance import dataset_fingerprint, provenance

CONFORMAL_FILE = "conformal.json"  # the thresholds a run calibrated, for ``ferbench predict --calibration``


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``ferbench run`` is asked to do; the CLI builds one too.

    ``dataset`` is a layout name (then ``data_root`` is required) or a loaded :class:`Dataset`; ``out=None``
    runs into a temporary folder (predictions are not kept between calls). ``models`` is a comma list of ids
    and card files (``"my-card.toml,all"``) or a sequence of ids, card paths, :class:`ModelCard` or
    :class:`~ferbench.models.callable.CallableModel` objects.

    ``groups`` (``"gender,race"``; ``"a+b"`` for an intersection) adds the ``fairness`` section: metrics per
    value of those sample-table columns. ``perturb`` (``"mask,blur:3,noise:1-5"`` or a suite such as
    ``"standard"``) also runs every model on perturbed copies of each face, each cached under its own
    variant, and adds the ``robustness`` section (see ``docs/robustness.md``, ``docs/fairness.md``).
    ``faces`` (``yunet``, ``rfb320``, ``haar`` or ``dataset``; None/``none``: use images as they are) runs the
    face stage first (see :mod:`ferbench.faces.stage`): detections are cached under ``out/faces``, the models
    see the crops, and predictions are stored under the variant ``face:<detector>:<policy>``; perturbations
    and attribute estimation then work on those crops. ``dataset_options`` go to the dataset loader (e.g.
    ``{"fps": 2}`` for ``video-folder``). ``engine="ray"`` computes on a Ray cluster (``address``: ``auto``,
    ``HOST:PORT``, or None for a local instance; ``workers``: model actors) and writes the same store.
    One run holds ``out`` at a time: another run into the same folder raises
    :class:`~ferbench.engine.lock.FolderBusy` at once, or with ``wait=True`` waits for it to finish.

    ``calibrate_on`` (a split name such as ``PublicTest`` / ``valid``, or a share such as ``0.3``) scores a
    second, disjoint set of faces that no evaluated statistic counts: temperature scaling is fitted on it,
    and ``conformal`` levels add the ``conformal`` section, prediction sets calibrated on it (see
    :mod:`ferbench.metrics.conformal`, ``docs/uncertainty.md``). A model whose card declares its own face
    preparation gets its own crop of the same face unless ``own_crops=False`` (see :mod:`ferbench.faces.prep`).
    """

    dataset: str | Dataset
    out: str | os.PathLike[str] | None = None
    models: str | Sequence[Any] = "all"
    data_root: str | os.PathLike[str] | None = None
    split: str | None = None
    limit: int | None = None
    model_store: StoreSpec = None
    options: EngineOptions | None = None
    seed: int = 0
    command: str | None = None
    write_report: bool = True
    groups: str | Sequence[str] | None = None
    perturb: str | Sequence[str] | None = None
    estimate_attributes: bool = False
    faces: str | None = None
    multi_face: str = "largest"
    face_margin: float | None = None
    face_align: bool = False
    own_crops: bool = True  # each model its card's own face preparation (False: everyone the shared crop)
    face_max_side: int | None = None  # the detector's long-side cap (None: its card's; 0: full resolution)
    dataset_options: dict[str, Any] | None = None
    engine: str = "local"
    address: str | None = None
    workers: int | None = None
    wait: bool = False  # another run holds ``out``: wait for it instead of failing at once
    conformal: float | Sequence[float] | None = None  # prediction-set levels (``0.9`` or ``[0.9, 0.8]``)
    calibrate_on: str | float | None = None  # calibration split name, or a seeded share such as ``0.3``


@dataclass
class RunResult:
    """What ``run`` produced: paths, the metrics document, and per-item evaluated predictions.

    :attr:`predictions` and :meth:`summary` are the notebook view of the same numbers ``metrics.json`` holds.
    """

    out: Path
    metrics: dict[str, Any]
    engine: EngineReport
    evaluated: EvaluatedPredictions
    dataset: Dataset
    cards: list[ModelCard]
    variants: tuple[str, ...] = ()

    @property
    def predictions_path(self) -> Path:
        return self.out / "predictions.parquet"

    @property
    def metrics_path(self) -> Path:
        return self.out / "metrics.json"

    @property
    def report_path(self) -> Path:
        return self.out / "report.html"

    @property
    def predictions(self) -> pd.DataFrame:
        """One row per sample × model × variant: the evaluated label, its probability and every label's.

        The label rule is the one the metrics use (:data:`LABEL_RULE`): each model's probabilities restricted
        to the dataset's evaluated labels and renormalised. ``label`` is None (and ``status`` says why) where
        the model could not score the sample.
        """
        main, *others = self.variants or ("clean",)
        frames = [evaluated_frame(self.evaluated, main)]
        ids = [c.id for c in self.cards]
        for variant in others:
            ev = restrict(self._stored, self.dataset.samples, ids, self.dataset.labels, variant)
            frames.append(evaluated_frame(ev, variant))
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """One row per model: accuracy, balanced accuracy, macro-F1, ECE, mean Cohen's kappa with the others,
        failures (the same numbers as ``metrics.json``'s ``models``, ``calibration`` and ``agreement``)."""
        m = self.metrics
        cal = (m.get("calibration") or {}).get("models", {})
        cohen = m["agreement"].get("cohen_kappa") or {}
        rows = []
        for c in self.cards:
            s = m["models"][c.id]
            others = [v for k, v in (cohen.get(c.id) or {}).items() if k != c.id and v is not None]
            rows.append(
                {
                    "model": c.id,
                    "accuracy": s["accuracy"],
                    "balanced_accuracy": s["balanced_accuracy"],
                    "macro_f1": s["macro_f1"],
                    "ece": (cal.get(c.id) or {}).get("ece"),
                    "mean_cohen_kappa": float(np.mean(others)) if others else None,
                    "n_failed": s["n_failed"],
                    "users_own": bool(m["provenance"]["models"][c.id].get("users_own")),
                }
            )
        return pd.DataFrame(rows).set_index("model")

    _stored: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def evaluated_frame(ev: EvaluatedPredictions, variant: str) -> pd.DataFrame:
    """The long table of one variant's evaluated predictions (see :attr:`RunResult.predictions`)."""
    n, m = ev.pred.shape
    ok = ev.pred >= 0
    labels = np.array(ev.labels, dtype=object)
    top = np.where(ok, np.nanmax(np.where(ok[..., None], ev.proba, -np.inf), axis=2), np.nan)
    data: dict[str, Any] = {
        "sample_id": np.repeat(ev.sample_ids, m),
        "model_id": np.tile(np.array(ev.model_ids, dtype=object), n),
        "variant": variant,
        "true_label": np.repeat(labels[ev.y_true], m),
        "label": np.asarray(np.where(ok, labels[np.clip(ev.pred, 0, None)], None)).reshape(-1),
        "probability": top.reshape(-1),
        "status": ev.status.reshape(-1),
    }
    for k, lab in enumerate(ev.labels):
        data[f"p_{lab}"] = ev.proba[:, :, k].reshape(-1)
    return pd.DataFrame(data)


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


def _union(a: Dataset, b: Dataset) -> Dataset:
    """One dataset over both face sets (for the face stage), split again by :func:`_separate`."""
    import pandas as pd

    df = pd.concat([a.samples, b.samples], ignore_index=True)
    return Dataset(a.name, a.root, df, a.description, a.pixels, a.labels, a.excluded)


def _separate(staged: Dataset, cal_ids: set[str]) -> tuple[Dataset, Dataset]:
    """The staged dataset cut back into (evaluated, calibration) by source face (ids may gain ``#face<k>``)."""
    import copy

    df = staged.samples
    src = df["source_id"] if "source_id" in df.columns else df["sample_id"]
    is_cal = src.astype(str).isin(cal_ids).to_numpy()
    out = []
    for mask in (~is_cal, is_cal):
        part = copy.copy(staged)
        part.samples = df[mask].reset_index(drop=True)
        out.append(part)
    return out[0], out[1]


def run(
    config: RunConfig | str | Dataset,
    /,
    *,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    **fields_: Any,
) -> RunResult:
    """Run models over a dataset, store per-item predictions, and write ``metrics.json`` and ``report.html``.

    ``config`` is a :class:`RunConfig`; a dataset name or :class:`Dataset` with the config's fields as keywords
    (``run("fer2013-images", data_root=..., models="all")``) builds one. Re-running with the same ``out``
    reuses every stored prediction whose card is unchanged; only missing (sample, model) pairs are computed,
    so an interrupted run resumes where it stopped. ``progress(total, n_models)`` returns a function called
    with the number of rows done.
    """
    if isinstance(config, RunConfig):
        cfg = replace(config, **fields_) if fields_ else config
    else:
        known = {f.name for f in fields(RunConfig)}
        unknown = sorted(set(fields_) - known)
        if unknown:
            raise TypeError(f"run() got unknown option(s) {', '.join(unknown)}; see RunConfig")
        cfg = RunConfig(config, **fields_)
    if cfg.out is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ferbench-run-") as tmp:
            return _run(replace(cfg, out=tmp), progress)
    return _run(cfg, progress)


def _run(cfg: RunConfig, progress: Callable[[int, int], Callable[[int], None]] | None) -> RunResult:
    dataset, out, models, data_root, split, limit = (
        cfg.dataset,
        cfg.out,
        cfg.models,
        cfg.data_root,
        cfg.split,
        cfg.limit,
    )
    model_store, options, seed, command, write_report = (
        cfg.model_store,
        cfg.options,
        cfg.seed,
        cfg.command,
        cfg.write_report,
    )
    groups, perturb, estimate_attributes, faces = cfg.groups, cfg.perturb, cfg.estimate_attributes, cfg.faces
    multi_face, face_margin, face_align, own_crops, dataset_options = (
        cfg.multi_face,
        cfg.face_margin,
        cfg.face_align,
        cfg.own_crops,
        cfg.dataset_options,
    )
    engine, address, workers, wait = cfg.engine, cfg.address, cfg.workers, cfg.wait
    conformal, calibrate_on = cfg.conformal, cfg.calibrate_on
    from .metrics.groups import check_group_columns, parse_groups
    from .perturb import parse_perturb, run_perturbations

    if engine not in ("local", "ray"):
        raise FerbenchError(f"unknown engine '{engine}'; use 'local' or 'ray'")
    groupings = parse_groups(groups)
    perturb_specs = parse_perturb(perturb)  # bad names / severities fail before any slow work
    from .datasets.holdout import holdout_record, parse_holdout, split_holdout
    from .metrics.conformal import check_confidence_level

    if conformal is None:
        levels: list[float] = []
    else:
        raw_levels = [conformal] if isinstance(conformal, int | float | str) else list(conformal)
        levels = list(dict.fromkeys(check_confidence_level(v) for v in raw_levels))
    holdout = parse_holdout(calibrate_on)
    face_cfg = None
    if faces and faces != "none":  # check the face options before any slow work
        from .faces.crop import DEFAULT_MARGIN
        from .faces.stage import FaceStageConfig

        margin = DEFAULT_MARGIN if face_margin is None else face_margin
        face_cfg = FaceStageConfig(
            faces, multi_face, margin, face_align, max_side=cfg.face_max_side, own_crops=own_crops
        )
    if isinstance(dataset, Dataset):
        full = dataset
    else:
        if data_root is None:
            raise ValueError("data_root is required when dataset is given by name")
        full = load_dataset(dataset, data_root, **(dataset_options or {}))
    ds = full.select(split, limit, seed)
    cal_ds: Dataset | None = None
    if holdout is not None:
        ds, cal_ds = split_holdout(full, ds, holdout, limit, seed)
    if estimate_attributes:  # check the other columns before any slow work
        from .attributes import ESTIMATED_COLUMNS

        check_group_columns(ds.samples.assign(**dict.fromkeys(ESTIMATED_COLUMNS)), groupings)
    else:
        check_group_columns(ds.samples, groupings)
    cards = resolve_models(models, model_store)
    assert out is not None
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

            both = ds if cal_ds is None else _union(ds, cal_ds)
            stage = prepare_face_stage(
                both, face_cfg, out_dir, model_store=model_store, workers=opts.decode_workers, cards=cards
            )
            ds, transform, faces_info, crops = stage.dataset, stage.transform, stage.info, stage.crops
            if cal_ds is not None:
                ds, cal_ds = _separate(stage.dataset, set(cal_ds.samples["sample_id"]))
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

        def fill(faces: Dataset) -> EngineReport:  # the evaluated and the calibration faces, same pass
            return compute(
                faces,
                cards,
                store,
                model_store=model_store,
                options=opts,
                progress=progress,
                transform=transform,
                crops=crops,
            )

        report = fill(scored)
        cal_report = fill(cal_ds) if cal_ds is not None else None
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
        if cal_ds is not None and holdout is not None:
            from .evaluate import restrict

            section_options["calibration"] = {
                "name": holdout.name,
                "ev": restrict(preds, cal_ds.samples, ids, ds.labels, variant),
                **holdout_record(holdout, cal_ds, seed),
            }
        if levels:
            section_options["conformal"] = levels
        if split:
            section_options["evaluated_split"] = split
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
        cal_fingerprint = None
        if cal_ds is not None:
            cal_rows = cal_ds.samples.merge(preds[preds["variant"] == variant], on=["sample_id", "stamp"])
            cal_fingerprint = dataset_fingerprint(cal_rows.drop_duplicates("sample_id"))

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
                    **(
                        {
                            "calibration": {
                                **holdout_record(holdout, cal_ds, seed),
                                "dataset_fingerprint": cal_fingerprint,
                                "engine": _engine_record(cal_report),
                            }
                        }
                        if cal_ds is not None and holdout is not None and cal_report is not None
                        else {}
                    ),
                },
            ),
        }
        write_json_atomic(metrics, out_dir / "metrics.json")
        if metrics.get("conformal", {}).get("status") == "ok":
            from .analysis.conformal import thresholds_document

            write_json_atomic(thresholds_document(metrics, out_dir), out_dir / CONFORMAL_FILE)
        variants = (variant, *perturb_reports)
        result = RunResult(out_dir, metrics, report, ev, ds, list(cards), variants, preds)
        if write_report:
            from .report import write_report as _write

            _write(result)
        return result
