"""Test data for the agreement tests: a fer2013.csv in the original format lined up with the real FER+ votes."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pandas as pd

from ferbench.labels import FER2013_CLASSES

N_ROWS = 64


def write_fer2013_csv(path: Path, votes: pd.DataFrame, fer2013_root: Path, n: int = N_ROWS) -> None:
    """A fer2013.csv in the original format whose first ``n`` rows line up with the real FER+ vote rows."""
    files = sorted((fer2013_root / "test").glob("*/*.jpg"))[
        :: max(1, len(list((fer2013_root / "test").glob("*/*.jpg"))) // n)
    ]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for i in range(n):
            img = cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE)
            img = cv2.resize(img, (48, 48)) if img.shape != (48, 48) else img
            code = FER2013_CLASSES.index(files[i].parent.name)
            w.writerow([code, " ".join(map(str, img.ravel())), votes["split"].iloc[i]])
