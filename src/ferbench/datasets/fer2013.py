"""FER2013 in its two standard layouts.

* ``fer2013-images``: the Kaggle image-folder copy, ``{train,test}/<class>/<file>.jpg`` with class folders
  ``angry disgust fear happy neutral sad surprise``. Test file names start with ``PublicTest_`` or
  ``PrivateTest_``, which keeps the official challenge split; train files belong to ``Training``.
* ``fer2013-csv``: the original challenge file ``fer2013.csv`` with columns ``emotion,pixels,Usage``:
  ``emotion`` is 0..6 in the order angry, disgust, fear, happy, sad, surprise, neutral; ``pixels`` holds
  2304 space-separated grey values (48x48, row-major); ``Usage`` is Training / PublicTest / PrivateTest.
  ``row`` (0-based data row) is kept so FER+ vote files, which are in the same row order, can be joined.

``--split test`` selects both test splits of the image layout (``split_group``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ..labels import FER2013_CLASSES, to_canonical
from .base import Dataset, Exclusions, file_stamp, finish, register_dataset
from .common import IMAGE_SUFFIXES, class_folder_label, iter_files

FOLDER_SPLITS = {"train": "Training", "test": None}
PIXELS = 48 * 48


def _test_split(name: str) -> str:
    for prefix in ("PublicTest", "PrivateTest"):
        if name.startswith(prefix + "_"):
            return prefix
    return "test"


@register_dataset("fer2013-images", "FER2013, Kaggle image-folder layout (train/ test/ <class>/ *.jpg)")
def load_fer2013_images(root: Path) -> Dataset:
    subsets = [d for d in ("train", "test") if (root / d).is_dir()]
    if not subsets:
        raise DatasetError(f"{root}: expected a 'train/' or 'test/' folder (FER2013 image-folder layout)")
    rows = []
    ex = Exclusions()
    for subset in subsets:
        for class_dir in sorted(p for p in (root / subset).iterdir() if p.is_dir()):
            label = class_folder_label(class_dir)
            for f in iter_files(class_dir, IMAGE_SUFFIXES, recursive=False, skipped=ex):
                split = FOLDER_SPLITS[subset] or _test_split(f.name)
                rows.append(
                    {
                        "sample_id": f"{subset}/{class_dir.name}/{f.name}",
                        "path": str(f.resolve()),
                        "label": label,
                        "split": split,
                        "split_group": subset,
                        "orig_label": class_dir.name,
                        "stamp": file_stamp(f),
                    }
                )
    if not rows:
        raise DatasetError(f"{root}: no images found under {', '.join(s + '/' for s in subsets)}")
    return finish("fer2013-images", root, rows, "FER2013 (Kaggle image folders)", ex)


@register_dataset("fer2013-csv", "FER2013, original challenge pixel file fer2013.csv (emotion,pixels,Usage)")
def load_fer2013_csv(root: Path) -> Dataset:
    path = root / "fer2013.csv" if root.is_dir() else root
    if not path.is_file():
        raise DatasetError(f"{path}: fer2013.csv not found")
    stamp = file_stamp(path)
    rows, pixels = [], {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
            raise DatasetError(f"{path}: header must be 'emotion,pixels,Usage', found {header}")
        for i, rec in enumerate(reader):
            line = i + 2
            if len(rec) < 3:
                raise DatasetError(f"{path}:{line}: expected 3 fields, found {len(rec)}")
            try:
                code = int(rec[0])
                orig = FER2013_CLASSES[code]
            except (ValueError, IndexError):
                raise DatasetError(f"{path}:{line}: emotion code '{rec[0]}' is not one of 0..6") from None
            sid = f"fer2013.csv#{i}"
            values = np.array(rec[1].split(), dtype=np.int64) if rec[1].strip() else np.array([], np.int64)
            if values.size == PIXELS and values.min() >= 0 and values.max() <= 255:
                pixels[sid] = values.astype(np.uint8).reshape(48, 48)
            rows.append(
                {
                    "sample_id": sid,
                    "path": f"{path}:{line}",
                    "label": to_canonical(orig),
                    "split": rec[2].strip(),
                    "orig_label": orig,
                    "row": i,
                    "stamp": stamp,
                }
            )
    if not rows:
        raise DatasetError(f"{path}: no data rows")
    return Dataset("fer2013-csv", path.parent, pd.DataFrame(rows), "FER2013 (original pixel CSV)", pixels)
