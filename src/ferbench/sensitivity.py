"""Protocol sensitivity: how far each model's accuracy, and the models' agreement, move with the protocol.

The same models on the same images score differently under choices a paper rarely states: how the face is
cut (margin, alignment, each model's own crop or one shared crop), how images are resized, and which label
rule picks the prediction. ``ferbench sensitivity`` re-runs the models under alternative protocols and reports,
per model, the accuracy under each, the models' Fleiss kappa under each, and the largest change.

On photos (``faces`` given: a detector runs) the protocols are

* ``own crop``: every model gets its card's face preparation (the baseline, as ``ferbench run --faces``);
* ``shared crop``: one square crop with a 10 % margin for every model (own vs shared crop);
* ``margin 0`` / ``margin 0.25``: that shared crop with no margin, or a quarter of the side each side;
* ``aligned``: the shared crop aligned on 5 landmarks (ferbench's alignment; detectors with landmarks only);
* ``full-resolution detection``: the baseline with the detector run on the whole image instead of one shrunk
  to its card's long-side cap (YuNet: 640 px), which moves boxes and landmarks on large photos;
* ``open label rule``: the baseline's predictions scored by the open rule (no new inference).

On pre-cropped datasets (no detector: the crop box is the whole image) margin and crop choice do not apply,
so the sweep varies what does and says so: the label rule, each model's resize method (OpenCV bilinear ↔
Pillow bilinear; other methods become OpenCV bilinear), and alignment where YuNet finds landmarks on the
crop (models with their own preparation get it; faces YuNet misses keep the whole image, and the number
aligned is reported).

Every protocol's predictions are cached in the run folder's prediction store under their own variant (the
face stage's variant names, or ``clean+sens:...``), and detections once under ``faces/``, so re-running, or
running ``ferbench run`` in the same folder, reuses them: the sweep costs only the new crops.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .datasets import Dataset, load_dataset
from .engine import EngineOptions, PredictionStore, run_models
from .engine.lock import RunLock
from .errors import FerbenchError, SampleError
from .evaluate import EvaluatedPredictions, restrict
from .faces.crop import DEFAULT_MARGIN
from .faces.detectors import DETECTOR_CARDS
from .faces.stage import FaceStageConfig, prepare_face_stage
from .fingerprint import variant_fingerprint
from .labels import CANONICAL_LABELS, DEFAULT_LABEL_RULE, OPEN
from .metrics.agreement import fleiss_kappa, rating_counts
from .models import resolve_models
from .models.cards import ModelCard
from .models.store import StoreSpec

MARGINS = (0.0, 0.1, 0.25)
RESIZE_SWAP = {"cv2_linear": "pil_bilinear", "pil_bilinear": "cv2_linear"}


@dataclass(frozen=True)
class Protocol:
    """One way of running the models: how faces are cut (``faces``), resized and labelled."""

    name: str
    axis: str  # baseline | crop | margin | alignment | detection | resize | label_rule
    faces: FaceStageConfig | None = None
    label_rule: str = DEFAULT_LABEL_RULE
    swap_resize: bool = False
    align_found: bool = False  # pre-cropped: align where YuNet finds landmarks, else the whole image

    @property
    def variant(self) -> str:
        if self.align_found:
            return "clean+sens:align-found:yunet"
        base = self.faces.variant if self.faces is not None else "clean"
        return base + ("+sens:resize-swap" if self.swap_resize else "")


def protocols(faces: str | None, policy: str = "largest") -> tuple[list[Protocol], list[str]]:
    """The protocols of a sweep, and notes saying what was not varied and why."""
    if faces and faces != "none":
        cfg = FaceStageConfig(faces, policy, DEFAULT_MARGIN)
        out = [
            Protocol("own crop", "baseline", cfg),
            Protocol("shared crop", "crop", replace(cfg, own_crops=False)),
            *(
                Protocol(f"margin {m:g}", "margin", replace(cfg, margin=m, own_crops=False))
                for m in MARGINS
                if abs(m - DEFAULT_MARGIN) > 1e-12
            ),
        ]
        notes = []
        if cfg.landmarks:
            out.append(Protocol("aligned", "alignment", replace(cfg, align=True, own_crops=False)))
        else:
            notes.append(f"--faces {faces} gives no landmarks: alignment is not varied")
        if faces != "dataset" and DETECTOR_CARDS[faces].max_side > 0:
            # the detector sees the whole image, as the models' reference outputs were made (own crops)
            out.append(Protocol("full-resolution detection", "detection", replace(cfg, max_side=0)))
        elif faces != "dataset":
            notes.append(f"--faces {faces} has no size cap: detection resolution is not varied")
        out.append(Protocol("open label rule", "label_rule", cfg, label_rule=OPEN))
        return out, notes
    return [
        Protocol("as given", "baseline"),
        Protocol("resize swapped", "resize", swap_resize=True),
        Protocol("aligned where found", "alignment", align_found=True),
        Protocol("open label rule", "label_rule", label_rule=OPEN),
    ], [
        "pre-cropped dataset (no --faces): the crop box is the whole image, so crop margin and own-vs-shared "
        "crop do not apply; varied instead: the label rule, the resize method, and alignment where YuNet finds "
        "landmarks on the crop"
    ]


def swapped_resize(card: ModelCard) -> ModelCard:
    """The card with its resize method swapped (OpenCV ↔ Pillow bilinear; anything else → OpenCV bilinear)."""
    alt = RESIZE_SWAP.get(card.preprocess.resize, "cv2_linear")
    return replace(card, preprocess=replace(card.preprocess, resize=alt))  # type: ignore[arg-type]


def _fallback_to_whole(
    transform: Callable[[np.ndarray, pd.Series], Any],
) -> Callable[[np.ndarray, pd.Series], Any]:
    def t(img: np.ndarray, row: pd.Series) -> Any:
        try:
            return transform(img, row)
        except SampleError as exc:
            if exc.reason in ("no_face", "bad_face_box"):
                return img
            raise

    return t


def accuracy(ev: EvaluatedPredictions, j: int, rule: str) -> tuple[float | None, int]:
    """Model ``j``'s accuracy over the items it scored under ``rule``, and their number."""
    names = ev.predicted_names(j, rule)
    ok = np.array([n is not None for n in names])
    if not ok.any():
        return None, 0
    truth = np.array(ev.labels, dtype=object)[ev.y_true[ok]]
    return float(np.mean(names[ok] == truth)), int(ok.sum())


def kappa(ev: EvaluatedPredictions, rule: str) -> float | None:
    """Fleiss' kappa among the models over the items all of them scored, labels picked by ``rule``."""
    if len(ev.model_ids) < 2:
        return None
    pred = ev.pred if rule == DEFAULT_LABEL_RULE else ev.pred_open
    assert pred is not None
    both = np.all(pred >= 0, axis=1)
    if not both.any():
        return None
    k = len(ev.labels) if rule == DEFAULT_LABEL_RULE else len(CANONICAL_LABELS)
    return fleiss_kappa(rating_counts(pred[both], k))


@dataclass
class SensitivityResult:
    out: Path
    result: dict[str, Any]
    computed: dict[str, int] = field(default_factory=dict)


def sensitivity(
    dataset: str | Dataset,
    *,
    out: str | os.PathLike[str],
    models: str | Sequence[str] = "all",
    data_root: str | os.PathLike[str] | None = None,
    split: str | None = None,
    limit: int | None = None,
    faces: str | None = None,
    multi_face: str = "largest",
    model_store: StoreSpec = None,
    options: EngineOptions | None = None,
    seed: int = 0,
    dataset_options: dict[str, Any] | None = None,
) -> SensitivityResult:
    """Run the models under every protocol of :func:`protocols` and write ``out/sensitivity.json``."""
    from .api import write_json_atomic

    plist, notes = protocols(faces, multi_face)
    if isinstance(dataset, Dataset):
        ds = dataset.select(split, limit, seed)
    else:
        if data_root is None:
            raise ValueError("data_root is required when dataset is given by name")
        ds = load_dataset(dataset, data_root, **(dataset_options or {})).select(split, limit, seed)
    cards = resolve_models(models, model_store)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = PredictionStore(out_dir)
    opts = options or EngineOptions()
    ids = [c.id for c in cards]
    per: dict[str, dict[str, Any]] = {}
    computed: dict[str, int] = {}
    # One writer per folder, as for `ferbench run` (the same prediction store and detection cache).
    with RunLock(out_dir, command=f"ferbench sensitivity ({ds.name})"):
        for p in plist:
            run_cards = [swapped_resize(c) for c in cards] if p.swap_resize else list(cards)
            pds, transform, crops, extra = ds, None, None, {}
            vfp = variant_fingerprint(p.variant)  # what the variant's rows are keyed on (its crops' recipe)
            if p.faces is not None:
                stage = prepare_face_stage(
                    ds,
                    p.faces,
                    out_dir,
                    model_store=model_store,
                    workers=opts.decode_workers,
                    cards=run_cards,
                )
                pds, transform, crops, vfp = stage.dataset, stage.transform, stage.crops, stage.fingerprint
            elif p.align_found:
                cfg = FaceStageConfig("yunet", "largest", DEFAULT_MARGIN, align=True)
                stage = prepare_face_stage(
                    ds, cfg, out_dir, model_store=model_store, workers=opts.decode_workers, cards=run_cards
                )
                pds, crops = stage.dataset, stage.crops
                transform = _fallback_to_whole(stage.transform)
                vfp = variant_fingerprint(p.variant, {"faces": stage.fingerprint, "no_face": "whole image"})
                extra["n_aligned"] = int((stage.dataset.samples["det_status"] == "ok").sum())
            # A model without its own face preparation sees the same crop with and without --shared-crop: its
            # baseline rows are read for the shared-crop protocol instead of being computed again.
            variants = {c.id: p.variant for c in run_cards}
            if p.axis == "crop":
                variants.update({c.id: plist[0].variant for c in run_cards if c.face_prep.kind == "shared"})
            todo = [c for c in run_cards if variants[c.id] == p.variant]
            if p.label_rule == DEFAULT_LABEL_RULE and todo:
                report = run_models(
                    pds,
                    todo,
                    store,
                    model_store=model_store,
                    options=replace(opts, variant=p.variant, variant_fingerprint=vfp),
                    transform=transform,
                    crops=crops,
                )
                computed[p.name] = report.total_computed
            else:
                computed[p.name] = 0
            # Rows of exactly these cards (a swapped resize is another fingerprint) under every variant read.
            preds = store.read(ids, model_fingerprints={store.model_fingerprint(c) for c in run_cards})
            ev = restrict(preds, pds.samples, ids, pds.labels, variants)
            acc = {}
            for j, mid in enumerate(ids):
                a, n = accuracy(ev, j, p.label_rule)
                acc[mid] = {"accuracy": a, "n": n}
            per[p.name] = {
                "axis": p.axis,
                "variant": p.variant,
                "variants": variants,
                "label_rule": p.label_rule,
                "n_samples": len(pds),
                "models": acc,
                "fleiss_kappa": kappa(ev, p.label_rule),
                **extra,
            }
    models_out: dict[str, Any] = {}
    base = plist[0].name
    for mid in ids:
        values = {name: r["models"][mid]["accuracy"] for name, r in per.items()}
        scored = {k: v for k, v in values.items() if v is not None}
        b = values[base]
        change = {k: (v - b) for k, v in scored.items() if b is not None and k != base}
        worst = max(change, key=lambda k: abs(change[k])) if change else None
        models_out[mid] = {
            "accuracy": values,
            "largest_change": None if worst is None else {"protocol": worst, "change": change[worst]},
            "range": (max(scored.values()) - min(scored.values())) if scored else None,
        }
    kappas = {name: r["fleiss_kappa"] for name, r in per.items()}
    result = {
        "dataset": ds.name,
        "split": split,
        "n_samples": len(ds),
        "faces": faces or "none",
        "baseline": base,
        "protocols": per,
        "models": models_out,
        "fleiss_kappa": kappas,
        "notes": notes,
        "label_rule": "per protocol (see protocols.*.label_rule)",
    }
    write_json_atomic(result, out_dir / "sensitivity.json")
    return SensitivityResult(out_dir, result, computed)


def check_detector(faces: str | None) -> None:
    if faces and faces != "none" and faces not in DETECTOR_CARDS:
        raise FerbenchError(
            f"--faces '{faces}' is not a face detector; choose none, {', '.join(DETECTOR_CARDS)}"
        )
