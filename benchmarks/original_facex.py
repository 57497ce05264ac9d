"""Run the ``facex`` package's own code (PyPI ``facex`` 1.1.0) here, unchanged, for benchmark item (d).

facex's per-face call is ``EmotionClassifier.detect_emotion(gray_face)`` (``facex/core.py``): it resizes with
``skimage.transform.resize`` (``facex/utils.py:input_resize``) and runs its TFLite file through
``tf.lite.Interpreter``. TensorFlow cannot be installed in this environment, so before importing facex this
module puts a small stand-in module named ``tensorflow`` in ``sys.modules`` whose ``lite.Interpreter`` is
``ai_edge_litert.interpreter.Interpreter``: LiteRT is TensorFlow Lite's standalone runtime (the same
interpreter and kernels, published apart from TensorFlow). Nothing else of facex is replaced; the stand-in is
removed from ``sys.modules`` again once facex is imported, so no other code mistakes it for TensorFlow. When
a real TensorFlow is installed it is used instead.

The wheel is fetched with ``pip download --no-deps facex==1.1.0`` (or given with ``--facex-wheel``) and its
sha256 checked against the digest ferbench's model card records for it. scikit-image is needed (the
``bench`` extra: ``pip install -e '.[bench]'``); it is a benchmark-only need, not a ferbench dependency.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferbench.hashing import sha256_file

FACEX_REQUIREMENT = "facex==1.1.0"
# The wheel ferbench's facex-mobilenetv2 card was taken from (src/ferbench/models/zoo.py, Artifact.upstream).
FACEX_WHEEL_SHA256 = "2e9bddb8fcf563020dac1f50879071b02560d60d8aae124164f20e04660a8c2e"


@dataclass
class OriginalFacex:
    """facex's own ``EmotionClassifier`` and how it was obtained (printed with the figures)."""

    classifier: Any
    model_path: Path
    runtime: str  # "TensorFlow <v>" or "LiteRT <v> standing in for tf.lite"

    def per_face(self, bgr: Any) -> dict[str, float]:
        """facex's path for one given face: its own grey conversion, then its own ``detect_emotion``."""
        gray = self.classifier._preprocess_frame(bgr)  # cv2.cvtColor(BGR2GRAY), as facex's predict() does
        return self.classifier.detect_emotion(gray)


def fetch_wheel(dest: Path, wheel: str | None = None) -> Path:
    """The facex 1.1.0 wheel: ``wheel`` if given, else ``pip download --no-deps`` into ``dest``; sha256-checked."""
    if wheel:
        path = Path(wheel)
    else:
        from ferbench.models.pull import pip_download

        dest.mkdir(parents=True, exist_ok=True)
        path = pip_download(FACEX_REQUIREMENT, dest)
    digest = sha256_file(path)
    if digest != FACEX_WHEEL_SHA256:
        raise RuntimeError(f"{path}: sha256 {digest} is not the facex 1.1.0 wheel's {FACEX_WHEEL_SHA256}")
    return path


def _tensorflow_stand_in() -> types.ModuleType:
    from ai_edge_litert.interpreter import Interpreter

    tf = types.ModuleType("tensorflow")
    tf.__doc__ = (
        "Benchmark stand-in: tf.lite.Interpreter is LiteRT's Interpreter (TensorFlow Lite's runtime)."
    )
    lite = types.ModuleType("tensorflow.lite")
    lite.Interpreter = Interpreter  # type: ignore[attr-defined]
    tf.lite = lite  # type: ignore[attr-defined]
    return tf


def load_facex(wheel: Path, unpack_to: Path) -> OriginalFacex:
    """Unpack the wheel, import facex from it (with the LiteRT stand-in if needed), build its classifier."""
    if importlib.util.find_spec("skimage") is None:
        raise RuntimeError(
            "facex needs scikit-image: pip install -e '.[bench]' (or pip install scikit-image)"
        )
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpack_to)
    sys.path.insert(0, str(unpack_to))
    real_tf = importlib.util.find_spec("tensorflow") is not None
    try:
        if real_tf:
            import tensorflow  # type: ignore[import-not-found]

            runtime = f"TensorFlow {tensorflow.__version__}"
        else:
            sys.modules["tensorflow"] = _tensorflow_stand_in()
            sys.modules["tensorflow.lite"] = sys.modules["tensorflow"].lite
            from importlib.metadata import version

            runtime = f"LiteRT {version('ai-edge-litert')} standing in for tf.lite (no TensorFlow here)"
        core = importlib.import_module("facex.core")
    finally:
        if not real_tf:
            sys.modules.pop("tensorflow", None)
            sys.modules.pop("tensorflow.lite", None)
        sys.path.remove(str(unpack_to))
    model_path = unpack_to / "facex" / "assets" / "model_optimized.tflite"  # what facex's PoolManager loads
    return OriginalFacex(core.EmotionClassifier(str(model_path)), model_path, runtime)
