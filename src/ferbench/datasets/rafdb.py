"""RAF-DB (Real-world Affective Faces; Li, Deng & Du, CVPR 2017), basic and compound subsets.

Layout of each subset as distributed (the dataset's README):

* ``EmoLabel/list_patition_label.txt`` (sic; ``list_partition_label.txt`` also accepted): one line per image,
  ``<image_name> <code>``, e.g. ``train_00001.jpg 5``. The split is the name's prefix (``train``/``test``).
* ``Image/aligned/<stem>_aligned.jpg`` (100x100, aligned) and ``Image/original/<stem>.jpg``.
* ``Annotation/manual/<stem>_manu_attri.txt``: five ``x y`` landmark lines (eye centres, nose tip, mouth
  corners), then gender (0 male, 1 female, 2 unsure), race (0 Caucasian, 1 African-American, 2 Asian) and
  age group (0: 0-3, 1: 4-19, 2: 20-39, 3: 40-69, 4: 70+).
* ``Annotation/boundingbox/<stem>_boundingbox.txt``: ``x_min y_min x_max y_max`` of the target face in the
  original image (v1.1). Kept as ``face_x, face_y, face_w, face_h`` when ``images="original"`` (the box is
  in original-image coordinates; for aligned images it is not a box in the image and is not emitted).

Basic codes: 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral.
Compound codes: 1 Happily Surprised, 2 Happily Disgusted, 3 Sadly Fearful, 4 Sadly Angry, 5 Sadly Surprised,
6 Sadly Disgusted, 7 Fearfully Angry, 8 Fearfully Surprised, 9 Angrily Surprised, 10 Angrily Disgusted,
11 Disgustedly Surprised. A compound class is two basic expressions; the canonical ``label`` is the first
(adverb) component by default (``component="second"`` picks the other), ``label_alt`` holds the other one
and ``compound_label`` the compound name, so an analysis can count a prediction of either component.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DatasetError
from .base import Dataset, Exclusions, finish, register_dataset, stamp_or_missing
from .common import find_file, label_lines

BASIC: dict[int, tuple[str, str]] = {
    1: ("Surprise", "surprise"),
    2: ("Fear", "fear"),
    3: ("Disgust", "disgust"),
    4: ("Happiness", "happy"),
    5: ("Sadness", "sad"),
    6: ("Anger", "anger"),
    7: ("Neutral", "neutral"),
}
COMPOUND: dict[int, tuple[str, str, str]] = {
    1: ("Happily Surprised", "happy", "surprise"),
    2: ("Happily Disgusted", "happy", "disgust"),
    3: ("Sadly Fearful", "sad", "fear"),
    4: ("Sadly Angry", "sad", "anger"),
    5: ("Sadly Surprised", "sad", "surprise"),
    6: ("Sadly Disgusted", "sad", "disgust"),
    7: ("Fearfully Angry", "fear", "anger"),
    8: ("Fearfully Surprised", "fear", "surprise"),
    9: ("Angrily Surprised", "anger", "surprise"),
    10: ("Angrily Disgusted", "anger", "disgust"),
    11: ("Disgustedly Surprised", "disgust", "surprise"),
}
GENDER = {0: "male", 1: "female", 2: "unsure"}
RACE = {0: "Caucasian", 1: "African-American", 2: "Asian"}
AGE = {0: "0-3", 1: "4-19", 2: "20-39", 3: "40-69", 4: "70+"}
NAME_RE = re.compile(r"^(train|test)_\d+\.(jpg|jpeg|png)$", re.IGNORECASE)
LABEL_FILES = ["EmoLabel/list_patition_label.txt", "EmoLabel/list_partition_label.txt"]


def _manual(path: Path) -> dict[str, object]:
    """Landmarks and attributes from a ``*_manu_attri.txt``; empty values when the file is absent or odd."""
    out: dict[str, object] = {"landmarks_5": "", "gender": None, "race": None, "age_group": None}
    if not path.is_file():
        return out
    lines = [ln.split() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if len(lines) < 8:
        return out
    try:
        pts = [(float(a[0]), float(a[1])) for a in lines[:5]]
        codes = [int(float(lines[k][0])) for k in (5, 6, 7)]
    except (ValueError, IndexError):
        return out
    out["landmarks_5"] = ";".join(f"{x:g},{y:g}" for x, y in pts)
    out["gender"], out["race"], out["age_group"] = GENDER.get(codes[0]), RACE.get(codes[1]), AGE.get(codes[2])
    return out


def _box(path: Path) -> tuple[float, float, float, float] | None:
    if not path.is_file():
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in path.read_text().split()[:4])
    except ValueError:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _load(root: Path, name: str, compound: bool, images: str, component: str) -> Dataset:
    if images not in ("aligned", "original"):
        raise DatasetError(f"images must be 'aligned' or 'original', got '{images}'")
    if component not in ("first", "second"):
        raise DatasetError(f"component must be 'first' or 'second', got '{component}'")
    subset = "compound" if compound else "basic"
    candidates = LABEL_FILES + [f"{subset}/{f}" for f in LABEL_FILES]
    label_file = find_file(root, candidates, "RAF-DB label file EmoLabel/list_patition_label.txt")
    assert label_file is not None
    base = label_file.parent.parent
    img_dir = base / "Image" / images
    if not img_dir.is_dir():
        raise DatasetError(f"{base}: image folder Image/{images}/ not found (RAF-DB layout)")
    manual_dir, box_dir = base / "Annotation" / "manual", base / "Annotation" / "boundingbox"
    codes = COMPOUND if compound else BASIC
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    seen: dict[str, str] = {}
    for where, line, parts in label_lines(label_file, root):
        if len(parts) != 2:
            ex.add(where, "malformed_line", "", f"expected '<image_name> <code>', found '{line.strip()}'")
            continue
        fname, raw = parts
        if not NAME_RE.match(fname):
            ex.add(where, "bad_name", raw, f"image name '{fname}' is not train_N.jpg / test_N.jpg")
            continue
        try:
            code = int(raw)
        except ValueError:
            code = -1
        if code not in codes:
            ex.add(where, "unknown_label", raw, f"code '{raw}' is not one of 1..{len(codes)}")
            continue
        if fname in seen:
            ex.add(where, "duplicate_entry", raw, f"'{fname}' already listed at {seen[fname]}")
            continue
        seen[fname] = where
        stem = fname.rsplit(".", 1)[0]
        img = img_dir / (f"{stem}_aligned.jpg" if images == "aligned" else fname)
        row: dict[str, object] = {
            "sample_id": fname,
            "path": str(img),
            "split": fname.split("_", 1)[0].lower(),
            "stamp": stamp_or_missing(img),
        }
        if compound:
            cname, first, second = COMPOUND[code]
            lab, alt = (first, second) if component == "first" else (second, first)
            row.update(label=lab, label_alt=alt, compound_label=cname, orig_label=cname, code=code)
        else:
            bname, canon = BASIC[code]
            row.update(label=canon, orig_label=bname, code=code)
        row.update(_manual(manual_dir / f"{stem}_manu_attri.txt"))
        if images == "original":
            box = _box(box_dir / f"{stem}_boundingbox.txt")
            if box is not None:
                row.update(face_x=box[0], face_y=box[1], face_w=box[2], face_h=box[3])
        rows.append(row)
    title = "RAF-DB compound" if compound else "RAF-DB basic"
    return finish(name, root, rows, f"{title} ({images} images)", ex)


@register_dataset(
    "rafdb", "RAF-DB basic: EmoLabel/list_patition_label.txt + Image/{aligned,original}/ + Annotation/"
)
def load_rafdb(root: Path, images: str = "aligned") -> Dataset:
    return _load(root, "rafdb", False, images, "first")


@register_dataset(
    "rafdb-compound",
    "RAF-DB compound (11 two-expression classes), same layout as basic; label = one component",
)
def load_rafdb_compound(root: Path, images: str = "aligned", component: str = "first") -> Dataset:
    return _load(root, "rafdb-compound", True, images, component)
