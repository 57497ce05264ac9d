"""ExpW (Expression in-the-Wild; Zhang et al., 2016/2018).

Layout as distributed: ``data/label/label.lst`` and ``data/image/origin/<image_name>`` (the ``origin.7z``
archives unpacked). Each line of ``label.lst`` is
``image_name face_id_in_image face_box_top face_box_left face_box_right face_box_bottom face_box_confidence
expression_label`` with labels 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral.
An image may hold several labelled faces, so one sample is one face: ``sample_id`` is
``<image_name>#<face_id>`` and the face box is kept as ``face_x, face_y, face_w, face_h`` (pixels) with
``face_confidence``; the face stage crops with it (whole images are not face crops).
"""

from __future__ import annotations

from pathlib import Path

from .base import Dataset, Exclusions, finish, register_dataset, stamp_or_missing
from .common import find_dir, find_file, label_lines

CODES = {
    0: ("angry", "anger"),
    1: ("disgust", "disgust"),
    2: ("fear", "fear"),
    3: ("happy", "happy"),
    4: ("sad", "sad"),
    5: ("surprise", "surprise"),
    6: ("neutral", "neutral"),
}


@register_dataset("expw", "ExpW: label/label.lst (face boxes, labels 0-6) + image/origin/")
def load_expw(root: Path) -> Dataset:
    label_file = find_file(root, ["label/label.lst", "data/label/label.lst", "label.lst"], "ExpW label.lst")
    assert label_file is not None
    base = label_file.parent.parent if label_file.parent.name == "label" else label_file.parent
    images = find_dir(base, ["image/origin", "origin", "image"], "ExpW image folder image/origin/")
    assert images is not None
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    seen: dict[str, str] = {}
    for where, _line, parts in label_lines(label_file, root):
        if len(parts) != 8:
            ex.add(where, "malformed_line", "", f"expected 8 fields, found {len(parts)}")
            continue
        name, face_id, top, left, right, bottom, conf, raw = parts
        try:
            t, lft, r, b = (float(v) for v in (top, left, right, bottom))
            confidence = float(conf)
        except ValueError:
            ex.add(where, "malformed_line", raw, "face box or confidence is not a number")
            continue
        try:
            code = int(raw)
        except ValueError:
            code = -1
        if code not in CODES:
            ex.add(where, "unknown_label", raw, f"label '{raw}' is not one of 0..6")
            continue
        sid = f"{name}#{face_id}"
        if sid in seen:
            ex.add(where, "duplicate_entry", raw, f"face '{sid}' already listed at {seen[sid]}")
            continue
        seen[sid] = where
        img = images / name
        orig, canon = CODES[code]
        rows.append(
            {
                "sample_id": sid,
                "path": str(img),
                "label": canon,
                "split": "all",
                "stamp": stamp_or_missing(img),
                "orig_label": orig,
                "image_name": name,
                "face_id": face_id,
                "face_x": lft,
                "face_y": t,
                "face_w": r - lft,
                "face_h": b - t,
                "face_confidence": confidence,
            }
        )
    return finish("expw", root, rows, "ExpW (in-the-wild faces with boxes)", ex)
