"""The face stage of a run: detect (cached), apply the multi-face policy, expand the sample table, crop.

``prepare_face_stage`` runs before the engine. It fills the detection cache for every selected sample (or
takes the dataset's own ``face_x, face_y, face_w, face_h`` boxes), then returns

* a dataset whose sample table carries the outcome per sample: ``source_id``, ``face_index``, ``n_faces``,
  ``det_status`` (``ok``, ``no_face``, ``multiple_faces`` or a read error), ``det_score`` and the box
  ``det_x, det_y, det_w, det_h`` (detector pixels, before squaring);
* the engine ``transform`` that cuts the crop for each row (or raises the row's recorded ``SampleError``);
* the engine variant name (``face:<detector>:<policy>``, plus ``:m<margin>`` when the margin is not 10 %,
  ``:aligned``, and ``:shared`` when every model is given the run's one crop), a JSON-ready description of
  the stage, and the variant *fingerprint* predictions are keyed on: every parameter above plus the whole
  detector card (weight sha256s, score and NMS thresholds), the effective ``max_side``,
  :data:`FACE_STAGE_VERSION` and, for ``dataset`` boxes, a hash of the boxes. A model's own face
  preparation is part of its card, so of its own fingerprint.

One detection per image, many crops: a model whose card declares its own face preparation
(``ModelCard.face_prep``, :mod:`ferbench.faces.prep`) receives the crop its authors cut from that same face
(the transform then returns a :class:`~ferbench.faces.types.Crops` and ``FaceStage.crops`` says which model
takes which); the others share the run's crop. ``own_crops=False`` gives every model the shared crop.

Multi-face policy: ``largest`` keeps the largest box; ``skip`` records ``multiple_faces`` for images with
several faces; ``all`` expands each image with faces into one sample per face, with sample id
``<id>#face<k>`` (``k`` = 0 for the largest) and the image's label, so every face is scored and evaluated.
An image with no face keeps its own id and the status ``no_face``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..datasets.base import Dataset
from ..errors import FerbenchError, SampleError
from ..fingerprint import variant_fingerprint
from ..hashing import sha256_bytes
from ..models.cards import ModelCard
from ..models.store import StoreSpec
from .cache import FaceStore, face_rows, row_face
from .crop import DEFAULT_MARGIN, aligned_crop, crop_landmarks, crop_square
from .detectors import DETECTOR_CARDS, Detector, get_detector, list_detectors
from .prep import crop_key, prepare_face
from .types import SHARED_CROP, Crops, Face

Policy = Literal["largest", "all", "skip"]
POLICIES: tuple[str, ...] = ("largest", "all", "skip")
DATASET_BOX_COLUMNS = ("face_x", "face_y", "face_w", "face_h")
CHUNK = 128
#: Bump whenever this stage's or :mod:`.crop`'s code changes the crop it cuts for the same box and settings:
#: every prediction made on face crops is then recomputed (part of the variant fingerprint).
FACE_STAGE_VERSION = 1


class FaceStageError(FerbenchError):
    """The face stage was asked for something it cannot do (unknown detector, alignment without landmarks)."""


@dataclass(frozen=True)
class FaceStageConfig:
    """How faces are found and cut: detector (or ``dataset`` boxes), multi-face policy, margin, alignment."""

    detector: str
    policy: str = "largest"
    margin: float = DEFAULT_MARGIN
    align: bool = False
    max_side: int | None = None  # None: the detector card's
    own_crops: bool = True  # each model gets its card's face preparation; False: the run's crop for all

    def __post_init__(self) -> None:
        if self.detector != "dataset" and self.detector not in list_detectors():
            raise FaceStageError(
                f"--faces '{self.detector}' is not a face detector; choose none, dataset or "
                f"{', '.join(list_detectors())}"
            )
        if self.policy not in POLICIES:
            raise FaceStageError(
                f"--multi-face '{self.policy}' is not a policy; choose {', '.join(POLICIES)}"
            )
        if not 0 <= self.margin <= 1:
            raise FaceStageError(
                f"--face-margin {self.margin} must lie between 0 and 1 (fraction of the side)"
            )
        if self.max_side is not None and self.max_side < 0:
            raise FaceStageError(
                f"--face-max-side {self.max_side} must be 0 (full resolution) or a positive pixel count"
            )
        if self.align and (self.detector == "dataset" or not DETECTOR_CARDS[self.detector].landmarks):
            raise FaceStageError(
                f"--face-align needs 5 landmarks, which '{self.detector}' does not give; use --faces yunet"
            )

    @property
    def variant(self) -> str:
        v = f"face:{self.detector}:{self.policy}"
        if abs(self.margin - DEFAULT_MARGIN) > 1e-12:
            v += f":m{self.margin:g}"
        if self.max_side is not None:
            v += f":s{self.max_side}"
        return v + (":aligned" if self.align else "") + ("" if self.own_crops else ":shared")

    @property
    def landmarks(self) -> bool:
        """Whether this stage's faces carry 5 landmarks."""
        return self.detector != "dataset" and DETECTOR_CARDS[self.detector].landmarks

    def check_cards(self, cards: Sequence[ModelCard]) -> None:
        """Refuse, before any slow work, a model whose own preparation needs landmarks this stage lacks."""
        if not self.own_crops or self.landmarks:
            return
        for c in cards:
            if c.face_prep.needs_landmarks:
                raise FaceStageError(
                    f"model '{c.id}' aligns faces on 5 landmarks, which --faces {self.detector} does not give; "
                    "use --faces yunet, give every model the run's crop with --shared-crop, or leave it out of --models"
                )


def select_faces(faces: list[Face], policy: str, where: str = "image") -> list[Face]:
    """Apply the multi-face policy to faces sorted largest first; zero (or, for ``skip``, several) raise."""
    if not faces:
        raise SampleError("no_face", f"{where}: no face found")
    if policy == "largest":
        return faces[:1]
    if policy == "skip" and len(faces) > 1:
        raise SampleError("multiple_faces", f"{where}: {len(faces)} faces found and --multi-face is skip")
    return list(faces)


def cut(img: np.ndarray, face: Face, margin: float = DEFAULT_MARGIN, align: bool = False) -> np.ndarray:
    """The crop the models see for one face (aligned when asked and landmarks exist)."""
    if align and face.landmarks is not None:
        return aligned_crop(img, face.landmarks, face.box, margin)
    return crop_square(img, face.box, margin)


def detect_and_crop(
    img: np.ndarray,
    detector: str | Detector = "yunet",
    policy: str = "largest",
    *,
    margin: float = DEFAULT_MARGIN,
    align: bool = False,
    model_store: StoreSpec = None,
) -> list[Face]:
    """Find faces in one BGR image, apply ``policy`` and cut each kept face (``Face.crop``).

    Raises :class:`~ferbench.errors.SampleError` with reason ``no_face`` (none found) or ``multiple_faces``
    (``policy='skip'`` and several found), the same outcomes ``ferbench run`` records per sample.
    """
    det = get_detector(detector, model_store)
    faces = select_faces(det.detect(img), policy)
    for f in faces:
        f.crop = cut(img, f, margin, align and f.landmarks is not None)
    return faces


def detect_dataset(
    ds: Dataset,
    detector: Detector,
    store: FaceStore,
    *,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Fill the detection cache for every sample of ``ds`` not in it; return the rows of ``ds``'s samples."""
    key = detector.key
    done = store.done_keys(key)
    samples = ds.samples
    todo = [
        i for i, k in enumerate(zip(samples["sample_id"], samples["stamp"], strict=True)) if k not in done
    ]

    def one(i: int) -> list[dict[str, object]]:
        row = samples.iloc[i]
        sid, stamp = str(row["sample_id"]), str(row["stamp"])
        digest, stage = "", "reading"
        try:
            img, raw = ds.read(sid, row["path"])
            digest, stage = sha256_bytes(raw), "face detection"
            faces = detector.detect(img)
        except SampleError as exc:
            return face_rows(sid, stamp, digest, key, [], exc.reason, str(exc))
        except Exception as exc:  # noqa: BLE001 - that sample's recorded failure; detection goes on
            text = f"{sid}: {stage} raised {type(exc).__name__}: {exc}"
            return face_rows(sid, stamp, digest, key, [], "exception", text)
        return face_rows(sid, stamp, digest, key, faces)

    with ThreadPoolExecutor(max_workers=workers or (os.cpu_count() or 1)) as pool:
        for start in range(0, len(todo), CHUNK):
            part = todo[start : start + CHUNK]
            rows = [r for rs in pool.map(one, part) for r in rs]
            store.write_part(rows, key)
            if progress:
                progress(len(part))
    cached = store.read(key)
    keys = samples[["sample_id", "stamp"]]
    return keys.merge(cached, on=["sample_id", "stamp"], how="inner")


def dataset_boxes(ds: Dataset) -> pd.DataFrame:
    """Detection-cache-shaped rows from the dataset's own face boxes (a sample without a box: ``no_face``)."""
    rows: list[dict[str, object]] = []
    for _, r in ds.samples.iterrows():
        box = [r.get(c) for c in DATASET_BOX_COLUMNS]
        ok = all(v is not None and pd.notna(v) for v in box) and float(box[2]) > 0 and float(box[3]) > 0
        faces = [Face(tuple(float(v) for v in box), 1.0, None, "dataset")] if ok else []  # type: ignore[arg-type]
        sid = str(r["sample_id"])
        err = f"{sid}: the dataset gives no face box" if not ok else ""
        rows.extend(face_rows(sid, str(r["stamp"]), "", "dataset", faces, "ok" if ok else "no_face", err))
    return pd.DataFrame(rows)


@dataclass
class FaceDataset(Dataset):
    """The sample table after the face stage, reading images through the dataset it came from.

    Sample ids of expanded rows (``<id>#face<k>``) are mapped back to the source id for reading, so any
    loader (files, pixel CSVs, video frames) works underneath.
    """

    inner: Dataset | None = None
    parents: dict[str, str] = field(default_factory=dict, repr=False)

    def read(self, sample_id: str, path: str) -> tuple[np.ndarray, bytes]:
        assert self.inner is not None
        return self.inner.read(self.parents.get(sample_id, sample_id), path)


@dataclass
class FaceStage:
    """What :func:`prepare_face_stage` returns to the run; ``crops``: model id → crop key, for the engine."""

    dataset: FaceDataset
    transform: Callable[[np.ndarray, pd.Series], np.ndarray | Crops]
    variant: str
    info: dict[str, Any]
    fingerprint: str = ""
    crops: dict[str, str] = field(default_factory=dict)


def _expand(ds: Dataset, dets: pd.DataFrame, cfg: FaceStageConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One output row per kept face (or per failed sample), plus the lookup the transform uses."""
    by_id = {sid: g.sort_values("face_index") for sid, g in dets.groupby("sample_id", sort=False)}
    out: list[dict[str, Any]] = []
    lookup: dict[str, Any] = {}
    for rec in ds.samples.to_dict("records"):
        sid = str(rec["sample_id"])
        g = by_id.get(sid)
        base = {**rec, "source_id": sid, "face_index": -1, "n_faces": 0, "det_score": np.nan}
        base.update({f"det_{c}": np.nan for c in "xywh"})
        if g is None:  # cannot happen after detect_dataset; guard so a bug shows as a status, not a crash
            base.update(det_status="not_detected", det_error=f"{sid}: no detection row")
            lookup[sid] = SampleError("not_detected", base["det_error"])
            out.append(base)
            continue
        first = g.iloc[0]
        if first["status"] != "ok":
            base.update(det_status=first["status"], det_error=first["error"])
            lookup[sid] = SampleError(str(first["status"]), str(first["error"]))
            out.append(base)
            continue
        faces = [row_face(r) for _, r in g.iterrows()]
        base["n_faces"] = len(faces)
        try:
            kept = select_faces(faces, cfg.policy, sid)
        except SampleError as exc:
            base.update(det_status=exc.reason, det_error=str(exc))
            lookup[sid] = exc
            out.append(base)
            continue
        for f in kept:
            new_id = f"{sid}#face{f.index}" if cfg.policy == "all" else sid
            row = {**base, "sample_id": new_id, "face_index": f.index, "det_score": f.score}
            row.update(
                det_status="ok", det_error="", det_x=f.box[0], det_y=f.box[1], det_w=f.box[2], det_h=f.box[3]
            )
            if f.landmarks is not None:  # crop-space landmarks: the perturbations place occluders on them
                lm = crop_landmarks(f.landmarks, f.box, cfg.margin, cfg.align)
                row.update({f"crop_lm{i}_{a}": float(lm[i, j]) for i in range(5) for j, a in enumerate("xy")})
            lookup[new_id] = f
            out.append(row)
    return pd.DataFrame(out), lookup


def prepare_face_stage(
    ds: Dataset,
    cfg: FaceStageConfig,
    run_dir: str | os.PathLike[str],
    *,
    model_store: StoreSpec = None,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    cards: Sequence[ModelCard] = (),
) -> FaceStage:
    """Detect (or read dataset boxes), apply the policy and return the dataset, transform and variant.

    ``cards`` are the run's models: those with their own face preparation get their own crop of each face.
    """
    cfg.check_cards(cards)
    crops = {c.id: crop_key(c, cfg.own_crops) for c in cards}
    preps = {crop_key(c, cfg.own_crops): c.face_prep for c in cards}
    own = {k: p for k, p in preps.items() if k != SHARED_CROP}
    if cfg.detector == "dataset":
        missing = [c for c in DATASET_BOX_COLUMNS if c not in ds.samples.columns]
        if missing:
            raise FaceStageError(
                f"dataset '{ds.name}' has no face box columns ({', '.join(missing)} missing); "
                "use a detector: --faces yunet, rfb320 or haar"
            )
        dets = dataset_boxes(ds)
        key, sha, max_side = "dataset", None, None
        detector_spec: Any = {"boxes": _boxes_digest(ds)}
    else:
        det = get_detector(cfg.detector, model_store, max_side=cfg.max_side)
        dets = detect_dataset(ds, det, FaceStore(run_dir), workers=workers, progress=progress)
        key, sha, max_side = det.key, det.card.sha256, det.max_side
        detector_spec = det.card
    table, lookup = _expand(ds, dets, cfg)
    parents = dict(zip(table["sample_id"], table["source_id"], strict=True))
    fds = FaceDataset(ds.name, ds.root, table, ds.description, None, ds.labels, inner=ds, parents=parents)

    def transform(img: np.ndarray, row: pd.Series) -> np.ndarray | Crops:
        entry = lookup[row["sample_id"]]
        if isinstance(entry, SampleError):
            raise SampleError(entry.reason, entry.detail)
        try:
            if not own:
                return cut(img, entry, cfg.margin, cfg.align)
            # The shared crop is always cut (a slice): attribute estimation and perturbation landmarks use it.
            out = Crops({k: prepare_face(img, entry, p) for k, p in own.items()})
            out[SHARED_CROP] = cut(img, entry, cfg.margin, cfg.align)
            return out
        except ValueError as exc:
            raise SampleError("bad_face_box", f"{row['sample_id']}: {exc}") from None

    info = {
        "detector": cfg.detector,
        "detector_key": key,
        "detector_sha256": sha,
        "policy": cfg.policy,
        "margin": cfg.margin,
        "align": cfg.align,
        "max_side": max_side,
        "variant": cfg.variant,
        "score_threshold": None
        if cfg.detector == "dataset"
        else DETECTOR_CARDS[cfg.detector].score_threshold,
        "own_crops": cfg.own_crops,
        "crops": {mid: key or "shared" for mid, key in crops.items()},
    }
    fingerprint = variant_fingerprint(
        cfg.variant,
        {
            "stage_version": FACE_STAGE_VERSION,
            "config": {**dataclasses.asdict(cfg), "max_side": max_side},
            "detector": detector_spec,
        },
    )
    info["fingerprint"] = fingerprint
    return FaceStage(fds, transform, cfg.variant, info, fingerprint, crops)


def _boxes_digest(ds: Dataset) -> str:
    """A hash of the dataset's own face boxes, so corrected boxes make their crops' predictions stale."""
    t = ds.samples[["sample_id", *DATASET_BOX_COLUMNS]]
    return sha256_bytes(t.to_csv(index=False).encode())
