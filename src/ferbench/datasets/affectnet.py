"""AffectNet, in its two common on-disk forms.

``affectnet`` — the full release (Mollahosseini et al., 2017):
  ``Manually_Annotated_file_lists/training.csv`` and ``validation.csv`` with columns
  ``subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks, expression, valence,
  arousal``; images under ``Manually_Annotated_Images/<subDirectory_filePath>`` (also accepted one folder
  down, e.g. ``Manually_Annotated/Manually_Annotated_Images``). The released ``validation.csv`` has no header
  row; both forms are accepted. Expression codes: 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust,
  6 Anger, 7 Contempt, 8 None, 9 Uncertain, 10 No-Face. Codes 8–10 are not expressions: their rows are
  excluded and counted (reason ``non_expression``). The face box is kept as ``face_x, face_y, face_w, face_h``
  (pixels in the original image) so the face stage can crop with the dataset's own box.

``affectnet-8`` — the widely shared 8-class release: ``train_set/`` and ``val_set/``, each with
  ``images/<id>.jpg`` and ``annotations/<id>_exp.npy`` (expression code, same coding 0–7),
  ``<id>_val.npy``, ``<id>_aro.npy`` (valence, arousal) and ``<id>_lnd.npy`` (68 landmarks). Images are
  already face crops, so there is no face box.

AffectNet's test set is not public; the validation set is the de-facto test set, so ``split_group`` is
``test`` for it and ``--split test`` selects it (``--split validation`` does too).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..labels import to_canonical
from .base import Dataset, Exclusions, finish, register_dataset, stamp_or_missing
from .common import IMAGE_SUFFIXES, find_dir, iter_files, rel

CODES: dict[int, str] = {
    0: "Neutral",
    1: "Happy",
    2: "Sad",
    3: "Surprise",
    4: "Fear",
    5: "Disgust",
    6: "Anger",
    7: "Contempt",
    8: "None",
    9: "Uncertain",
    10: "No-Face",
}
NON_EXPRESSION = {8, 9, 10}
CANONICAL = {code: to_canonical(name) for code, name in CODES.items() if code not in NON_EXPRESSION}
HEADER = [
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
]
LIST_FILES = {"training": ("training.csv", "train"), "validation": ("validation.csv", "test")}


def _code(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


@register_dataset(
    "affectnet",
    "AffectNet full release: Manually_Annotated_file_lists/{training,validation}.csv + Manually_Annotated_Images/",
)
def load_affectnet(root: Path) -> Dataset:
    lists = find_dir(root, ["Manually_Annotated_file_lists"], "AffectNet list folder")
    assert lists is not None
    images = find_dir(
        root,
        [
            "Manually_Annotated_Images",
            "Manually_Annotated/Manually_Annotated_Images",
            "Manually_Annotated_compressed/Manually_Annotated_Images",
        ],
        "AffectNet image folder",
    )
    assert images is not None
    present = {split: lists / fname for split, (fname, _) in LIST_FILES.items() if (lists / fname).is_file()}
    if not present:
        raise DatasetError(f"{lists}: neither training.csv nor validation.csv found")
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    seen: dict[str, str] = {}
    for split, path in present.items():
        where0 = rel(path, root)
        with open(path, newline="", encoding="utf-8-sig") as f:
            for i, rec in enumerate(csv.reader(f), start=1):
                where = f"{where0}:{i}"
                if i == 1 and rec and rec[0].strip() == HEADER[0]:
                    continue
                if not rec or not "".join(rec).strip():
                    continue
                if len(rec) != len(HEADER):
                    ex.add(where, "malformed_line", "", f"expected {len(HEADER)} fields, found {len(rec)}")
                    continue
                sub = rec[0].strip()
                code = _code(rec[6].strip())
                if code is None or code not in CODES:
                    ex.add(where, "unknown_label", rec[6].strip(), f"expression code '{rec[6]}' is not 0..10")
                    continue
                if code in NON_EXPRESSION:
                    ex.add(
                        where,
                        "non_expression",
                        CODES[code],
                        f"code {code} ({CODES[code]}) is not an expression",
                    )
                    continue
                if sub in seen:
                    ex.add(where, "duplicate_entry", CODES[code], f"'{sub}' already listed at {seen[sub]}")
                    continue
                seen[sub] = where
                img = images / sub
                x, y, w, h = (_num(v) for v in rec[1:5])
                rows.append(
                    {
                        "sample_id": sub,
                        "path": str(img),
                        "label": CANONICAL[code],
                        "split": split,
                        "split_group": LIST_FILES[split][1],
                        "stamp": stamp_or_missing(img),
                        "orig_label": CODES[code],
                        "expression": code,
                        "face_x": x,
                        "face_y": y,
                        "face_w": w,
                        "face_h": h,
                        "facial_landmarks": rec[5].strip(),
                        "valence": _num(rec[7]),
                        "arousal": _num(rec[8]),
                    }
                )
    return finish("affectnet", root, rows, "AffectNet (manually annotated lists)", ex)


def _scalar(path: Path) -> str:
    arr = np.load(path, allow_pickle=False)
    return str(arr.reshape(-1)[0]) if arr.size else ""


def _landmarks(path: Path) -> str:
    if not path.is_file():
        return ""
    try:
        arr = np.load(path, allow_pickle=False)
        return ";".join(f"{float(v):g}" for v in np.asarray(arr, dtype=np.float64).reshape(-1))
    except (ValueError, OSError):
        return ""


@register_dataset(
    "affectnet-8",
    "AffectNet 8-class release: {train,val}_set/images/<id>.jpg + annotations/<id>_{exp,val,aro,lnd}.npy",
)
def load_affectnet8(root: Path) -> Dataset:
    sets = {name: root / name for name in ("train_set", "val_set") if (root / name).is_dir()}
    if not sets:
        sub = find_dir(root, ["train_set", "val_set"], "AffectNet train_set/ or val_set/ folder")
        assert sub is not None
        root = sub.parent
        sets = {name: root / name for name in ("train_set", "val_set") if (root / name).is_dir()}
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    for set_name, folder in sets.items():
        split, group = ("train", "train") if set_name == "train_set" else ("val", "test")
        img_dir, ann_dir = folder / "images", folder / "annotations"
        if not ann_dir.is_dir():
            raise DatasetError(f"{folder}: annotations/ folder not found (AffectNet 8-class layout)")
        images = (
            {p.stem: p for p in iter_files(img_dir, IMAGE_SUFFIXES, recursive=False, skipped=ex)}
            if img_dir.is_dir()
            else {}
        )
        labelled = {p.name[: -len("_exp.npy")]: p for p in sorted(ann_dir.glob("*_exp.npy"))}
        for sid in sorted(set(images) | set(labelled), key=lambda s: (len(s), s)):
            exp_path = labelled.get(sid)
            img = images.get(sid, img_dir / f"{sid}.jpg")
            if exp_path is None:
                ex.add(rel(img, root), "missing_label", "", f"no annotations/{sid}_exp.npy for this image")
                continue
            where = rel(exp_path, root)
            try:
                raw = _scalar(exp_path)
            except (ValueError, OSError) as exc:
                ex.add(where, "malformed_line", "", f"cannot read .npy ({exc})")
                continue
            code = _code(raw)
            if code is None or code not in CODES:
                ex.add(where, "unknown_label", raw, f"expression code '{raw}' is not 0..10")
                continue
            if code in NON_EXPRESSION:
                ex.add(
                    where, "non_expression", CODES[code], f"code {code} ({CODES[code]}) is not an expression"
                )
                continue
            va = {}
            for key, suffix in (("valence", "val"), ("arousal", "aro")):
                p = ann_dir / f"{sid}_{suffix}.npy"
                try:
                    va[key] = _num(_scalar(p)) if p.is_file() else float("nan")
                except (ValueError, OSError):
                    va[key] = float("nan")
            rows.append(
                {
                    "sample_id": f"{set_name}/{sid}",
                    "path": str(img),
                    "label": CANONICAL[code],
                    "split": split,
                    "split_group": group,
                    "stamp": stamp_or_missing(img),
                    "orig_label": CODES[code],
                    "expression": code,
                    "valence": va["valence"],
                    "arousal": va["arousal"],
                    "facial_landmarks": _landmarks(ann_dir / f"{sid}_lnd.npy"),
                }
            )
    return finish("affectnet-8", root, rows, "AffectNet (8-class release)", ex)
