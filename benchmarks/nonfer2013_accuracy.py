"""Accuracy of chosen models on FER2013 PrivateTest and on FER+ test (majority labels), under both label rules.

Prints the table in ``docs/models.md`` ("Models not trained on FER2013"). FER+ test is read through a manifest
built in a temporary folder from ``ferplus-images/FER2013Test/label.csv`` with FER+'s majority rule
(:func:`ferbench.datasets.ferplus.derive_labels`), the PNGs referenced where they lie.

    python benchmarks/nonfer2013_accuracy.py --shared ../shared [--models a,b] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import pandas as pd

from ferbench.api import run
from ferbench.datasets.ferplus import FERPLUS_COLUMNS, VOTE_COLUMNS, derive_labels

NEW = "opencv-zoo-mobilefacenet-fer-int8,omz-emotions-recognition-retail-0003"


def ferplus_manifest(folder: Path, out: Path) -> Path:
    """A ``path,label`` manifest of FER+ test faces that have a majority label."""
    rows = []
    with open(folder / "label.csv", newline="") as f:
        for rec in csv.reader(f):
            rows.append([rec[0], *map(int, rec[2 : 2 + len(FERPLUS_COLUMNS)])])
    df = pd.DataFrame(rows, columns=["image", *VOTE_COLUMNS])
    df["label"] = derive_labels(df, "majority")
    df = df[df["label"].notna()]
    path = out / "ferplus_test_majority.csv"
    pd.DataFrame({"path": [str(folder / n) for n in df["image"]], "label": df["label"]}).to_csv(
        path, index=False
    )
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--models", default=NEW)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    store = args.shared / "models"
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        runs = {
            "FER2013 PrivateTest": run(
                "fer2013-images",
                data_root=args.shared / "data" / "fer2013-images",
                split="PrivateTest",
                limit=args.limit,
                out=t / "fer2013",
                models=args.models,
                model_store=store,
                write_report=False,
            ),
            "FER+ test (majority)": run(
                "manifest",
                data_root=ferplus_manifest(args.shared / "data" / "ferplus-images" / "FER2013Test", t),
                limit=args.limit,
                out=t / "ferplus",
                models=args.models,
                model_store=store,
                write_report=False,
            ),
        }
        print(
            "| model | dataset | n | accuracy (restricted) | accuracy (open) | macro-F1 (restricted) | macro-F1 (open) |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, res in runs.items():
            for mid, s in res.metrics["models"].items():
                o = s["by_label_rule"]["open"]
                print(
                    f"| `{mid}` | {name} | {s['n']} | {100 * s['accuracy']:.1f}% | {100 * o['accuracy']:.1f}% | "
                    f"{s['macro_f1']:.3f} | {o['macro_f1']:.3f} |"
                )


if __name__ == "__main__":
    main()
