"""Face detectors: time per image on the reference photos, and miss rate on raw FER2013 test crops.

Prints figures; asserts nothing. Usage::

    python benchmarks/faces_detectors.py [--model-store ../shared/models] [--fer2013 ../shared/data/fer2013-images] [-n 300]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from ferbench.datasets import load_dataset
from ferbench.faces import get_detector, list_detectors

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-store", default=str(ROOT.parent / "shared" / "models"))
    ap.add_argument("--fer2013", default=str(ROOT.parent / "shared" / "data" / "fer2013-images"))
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    photos = sorted((Path(a.model_store) / "_reference" / "images").glob("*.jpg"))
    imgs = [(p.name, cv2.imread(str(p))) for p in photos]
    ds = load_dataset("fer2013-images", a.fer2013).select("test", limit=a.n, seed=0)
    crops = [ds.read(s, p)[0] for s, p in zip(ds.samples["sample_id"], ds.samples["path"], strict=True)]
    cv2.setNumThreads(1)
    print(
        f"{'detector':<8} {'ms/photo (median, 1 thread)':>28} {'faces in multi_face':>20} {'FER2013 48px miss rate':>23}"
    )
    for name in list_detectors():
        det = get_detector(name, a.model_store)
        det.detect(imgs[0][1])  # warm up
        times = []
        for _, img in imgs:
            t0 = time.perf_counter()
            for _ in range(a.repeat):
                det.detect(img)
            times.append((time.perf_counter() - t0) / a.repeat * 1000)
        multi = len(det.detect(dict(imgs)["multi_face.jpg"]))
        missed = sum(not det.detect(c) for c in crops)
        print(f"{name:<8} {np.median(times):>28.1f} {multi:>20d} {missed / len(crops):>22.1%}")
    print(f"({len(imgs)} reference photos, {len(crops)} FER2013 test images, seed 0)")


if __name__ == "__main__":
    main()
