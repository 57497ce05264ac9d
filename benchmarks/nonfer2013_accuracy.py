"""Accuracy of chosen models on FER2013 PrivateTest and on FER+ test (majority labels), under both label rules.

Prints the table in ``docs/models.md`` ("Models not trained on FER2013"). FER+ test is FER+'s own folder
(``ferplus-images/FER2013Test``: PNGs + ``label.csv``) read by the ``ferplus`` loader with FER+'s majority rule.

    python benchmarks/nonfer2013_accuracy.py --shared ../shared [--models a,b] [--limit N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ferbench.api import run

NEW = "opencv-zoo-mobilefacenet-fer-int8,omz-emotions-recognition-retail-0003"


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
                "ferplus",
                data_root=args.shared / "data" / "ferplus-images",
                split="test",
                dataset_options={"label_rule": "majority"},
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
