"""How fast ``ferbench datasets check`` and the image decoder are on the shared FER2013 image folders.

Prints: loader time, full-check time with and without decoding (files per second), what the check finds
(duplicate groups, conflicting labels), and per-image decode time of ferbench's decoder against OpenCV's
``imdecode`` on a large photo and on 48x48 faces, with the share of images whose pixels differ.
Run: ``python benchmarks/datasets_check.py [--root ../shared/data/fer2013-images] [--n 2000]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from ferbench.datasets import load_dataset
from ferbench.datasets.check import check_dataset
from ferbench.datasets.images import decode_image


def _per_image(fn, blobs: list[bytes], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for b in blobs:
            fn(b)
        best = min(best, (time.perf_counter() - t) / len(blobs))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013-images",
    )
    ap.add_argument("--n", type=int, default=2000, help="faces used for the decoder comparison")
    args = ap.parse_args()

    t = time.perf_counter()
    ds = load_dataset("fer2013-images", args.root)
    print(f"load fer2013-images: {len(ds)} samples in {time.perf_counter() - t:.2f} s")
    for decode in (False, True):
        t = time.perf_counter()
        rep = check_dataset(ds, decode=decode)
        dt = time.perf_counter() - t
        conflicting = sum(d["conflicting_labels"] for d in rep.duplicates)
        print(
            f"check decode={decode}: {dt:.1f} s ({len(ds) / dt:,.0f} files/s); duplicate groups "
            f"{len(rep.duplicates)} ({conflicting} with conflicting labels), unreadable {len(rep.unreadable)}"
        )

    faces = [Path(p).read_bytes() for p in ds.samples["path"].iloc[:: max(1, len(ds) // args.n)][: args.n]]
    ours = _per_image(lambda b: decode_image(b, "x"), faces)
    cv = _per_image(lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), faces)
    differ = sum(
        not np.array_equal(decode_image(b, "x"), cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR))
        for b in faces
    )
    print(
        f"48x48 faces: ferbench {ours * 1e6:.0f} us/image, OpenCV {cv * 1e6:.0f} us/image; "
        f"{differ}/{len(faces)} differ in any pixel"
    )
    photo = args.root.parents[1] / "models" / "_reference" / "images" / "multi_face.jpg"
    if photo.is_file():
        blob = [photo.read_bytes()] * 10
        ours = _per_image(lambda b: decode_image(b, "x"), blob)
        cv = _per_image(lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), blob)
        print(f"{photo.name} (1000x667 JPEG): ferbench {ours * 1e3:.1f} ms, OpenCV {cv * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
