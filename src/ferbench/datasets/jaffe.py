"""JAFFE (Japanese Female Facial Expression; Lyons et al., 1998): file-name coded images.

Files are named ``<poser>.<expression><n>.<number>.tiff``, e.g. ``KA.AN1.39.tiff``: poser initials (KA, KL,
KM, KR, MK, NA, NM, TM, UY, YM), expression code and the poser's repetition index (``AN1``), and the image
number. Codes: AN anger, DI disgust, FE fear, HA happiness, NE neutral, SA sadness, SU surprise. The files sit
in one folder (``jaffedbase/`` in the distribution); the loader searches the root recursively. The labels are
the posed (intended) expressions. A ``.tiff`` whose name does not follow the scheme is excluded and reported
(``bad_name``).
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Dataset, Exclusions, finish, register_dataset, stamp_or_missing
from .common import iter_files, rel

CODES = {
    "AN": ("anger", "anger"),
    "DI": ("disgust", "disgust"),
    "FE": ("fear", "fear"),
    "HA": ("happiness", "happy"),
    "NE": ("neutral", "neutral"),
    "SA": ("sadness", "sad"),
    "SU": ("surprise", "surprise"),
}
NAME_RE = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d+)\.(\d+)\.tiff?$", re.IGNORECASE)


@register_dataset("jaffe", "JAFFE: file-name coded <poser>.<EXPR><n>.<number>.tiff (e.g. KA.AN1.39.tiff)")
def load_jaffe(root: Path) -> Dataset:
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    for f in iter_files(root, {".tiff", ".tif"}, skipped=ex):
        where = rel(f, root)
        m = NAME_RE.match(f.name)
        if not m:
            ex.add(where, "bad_name", "", "name is not <poser>.<EXPR><n>.<number>.tiff")
            continue
        poser, code, rep, number = m.groups()
        if code.upper() not in CODES:
            ex.add(where, "unknown_label", code, f"expression code '{code}' is not one of {', '.join(CODES)}")
            continue
        name, canon = CODES[code.upper()]
        rows.append(
            {
                "sample_id": where,
                "path": str(f),
                "label": canon,
                "split": "all",
                "stamp": stamp_or_missing(f),
                "orig_label": code.upper(),
                "poser": poser.upper(),
                "repetition": int(rep),
                "image_number": int(number),
            }
        )
    return finish("jaffe", root, rows, "JAFFE (posed expressions)", ex, "JAFFE-named .tiff images")
