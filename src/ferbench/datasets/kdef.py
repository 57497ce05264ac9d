"""KDEF (Karolinska Directed Emotional Faces; Lundqvist, Flykt & Öhman, 1998): file-name coded images.

Files are ``KDEF/<session><sex><id>/<session><sex><id><expression><angle>.JPG``, e.g. ``AF01/AF01ANS.JPG``:
session A or B, sex F or M, two-digit identity, expression AF afraid, AN angry, DI disgusted, HA happy,
NE neutral, SA sad, SU surprised, and camera angle FL full left, HL half left, S straight, HR half right,
FR full right. The angle becomes ``pose`` (``full_left`` … ``full_right``) and ``split_group``, so
``--split straight`` evaluates frontal faces only. The loader searches the root recursively; images whose
name does not follow the scheme are excluded and reported (``bad_name``).
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Dataset, Exclusions, finish, register_dataset, stamp_or_missing
from .common import iter_files, rel

EXPRESSIONS = {
    "AF": "fear",
    "AN": "anger",
    "DI": "disgust",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
ANGLES = {"FL": "full_left", "HL": "half_left", "S": "straight", "HR": "half_right", "FR": "full_right"}
NAME_RE = re.compile(r"^([AB])([FM])(\d{2})([A-Z]{2})(FL|FR|HL|HR|S)\.jpe?g$", re.IGNORECASE)


@register_dataset(
    "kdef", "KDEF: file-name coded <A|B><F|M><id><expr><angle>.JPG (e.g. AF01ANS.JPG), pose kept"
)
def load_kdef(root: Path) -> Dataset:
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    for f in iter_files(root, {".jpg", ".jpeg"}, skipped=ex):
        where = rel(f, root)
        m = NAME_RE.match(f.name)
        if not m:
            ex.add(where, "bad_name", "", "name is not <A|B><F|M><NN><expression><angle>.JPG")
            continue
        session, sex, ident, expr, angle = (g.upper() for g in m.groups())
        if expr not in EXPRESSIONS:
            ex.add(
                where,
                "unknown_label",
                expr,
                f"expression code '{expr}' is not one of {', '.join(EXPRESSIONS)}",
            )
            continue
        rows.append(
            {
                "sample_id": where,
                "path": str(f),
                "label": EXPRESSIONS[expr],
                "split": "all",
                "split_group": ANGLES[angle],
                "stamp": stamp_or_missing(f),
                "orig_label": expr,
                "session": session,
                "sex": "female" if sex == "F" else "male",
                "subject": f"{sex}{ident}",
                "angle": angle,
                "pose": ANGLES[angle],
            }
        )
    return finish("kdef", root, rows, "KDEF (posed expressions, five angles)", ex, "KDEF-named images")
