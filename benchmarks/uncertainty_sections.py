"""Time the uncertainty sections (calibration, selective, ensembles, affect) on an existing run folder.

Usage: python benchmarks/uncertainty_sections.py RUN_DIR DATA_ROOT [--dataset fer2013-images] [--split test]
Prints the seconds each section builder takes and the item count, so regressions in the per-item work show.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from ferbench.datasets import load_dataset
from ferbench.engine import PredictionStore
from ferbench.evaluate import EvalContext, restrict
from ferbench.models import get_card
from ferbench.sections import builders


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("data_root")
    ap.add_argument("--dataset", default="fer2013-images")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    from ferbench import analysis  # noqa: F401  (registers the sections)

    ds = load_dataset(args.dataset, args.data_root).select(args.split)
    store = PredictionStore(args.run_dir)
    ids = sorted(set(pd.read_parquet(f"{args.run_dir}/predictions.parquet")["model_id"]))
    cards = [get_card(i) for i in ids]
    preds = store.read(ids)
    t0 = time.perf_counter()
    ev = restrict(preds, ds.samples, ids, ds.labels)
    print(f"restrict: {time.perf_counter() - t0:.3f} s for {len(ds)} items x {len(ids)} models")
    ctx = EvalContext(ev, cards, ds.samples, preds)
    for key, builder in builders():
        if key not in ("calibration", "selective", "ensembles", "affect"):
            continue
        t0 = time.perf_counter()
        builder(ctx)
        print(f"{key}: {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
