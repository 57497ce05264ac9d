"""Real model outputs for the uncertainty tests: 252 FER2013 test faces (18 per class in each of PublicTest and
PrivateTest, seeded) scored by seven verified models. Computed once per test session."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from ferbench.api import RunResult, run
from ferbench.datasets import Dataset, load_dataset

PER_CELL = 18
# Three FER2013-trained softmax models, two sigmoid models (uncalibrated scores), face-api's softmax model and a
# 5-class model lacking fear and disgust: every path of the label-set rule, at a few seconds of inference.
MODELS = (
    "fer-mini-xception,oarriaga-mini-xception-119,oarriaga-big-xception-54,facial-emotion-recognition-networkv2,"
    "tensorflow-fer-mobilenetv2,faceapi-expression-net,emotion-model-cnn5"
)


def stratified_test_subset(fer2013_root: Path, per_cell: int = PER_CELL, seed: int = 0) -> Dataset:
    """``per_cell`` images per (split, class) from the FER2013 test folders, so both splits hold every class."""
    ds = load_dataset("fer2013-images", fer2013_root).select("test")
    keep = []
    for _, g in ds.samples.groupby(["split", "label"]):
        keep.extend(g.sample(n=min(per_cell, len(g)), random_state=seed).index)
    df = ds.samples.loc[sorted(keep)]
    return Dataset(ds.name, ds.root, df.copy(), ds.description, ds.pixels, ds.labels)


@functools.lru_cache(maxsize=2)
def real_run(fer2013_root: Path, model_store: Path, split: str | None = None) -> RunResult:
    """A full ``ferbench run`` over the stratified subset (optionally one split of it), report included."""
    ds = stratified_test_subset(fer2013_root)
    out = Path(tempfile.mkdtemp(prefix="ferbench-uncertainty-"))
    return run(ds, out=out, models=MODELS, model_store=model_store, split=split)
