"""The one adapter interface every FER model is used through.

``Adapter.predict`` takes BGR uint8 face crops and returns, per crop, a probability distribution over the
model's *own* classes in its own order; :meth:`Adapter.to_canonical` lays that out over the canonical
labels (NaN where the model has no such class). How raw outputs become a distribution is stated by the card:

* ``softmax``: used as is (renormalised only to remove float drift);
* ``sigmoid``: independent per-class sigmoids, divided by their sum. These are *uncalibrated scores*;
* ``yolo_head``: a detector head (box + per-class sigmoid per anchor); the anchor with the highest class
  score is taken and its class sigmoids are divided by their sum. Also uncalibrated.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..labels import CANONICAL_LABELS, LABEL_INDEX
from .cards import ModelCard
from .preprocess import preprocess_batch
from .runtime import LiteRTSession, OnnxSession, Session
from .store import verified_weight_path


def normalise_outputs(raw: np.ndarray, kind: str, n_classes: int) -> np.ndarray:
    """Turn a batch of raw model outputs into rows that sum to one (see module docstring for the rules)."""
    raw = np.asarray(raw, dtype=np.float64)
    if kind == "yolo_head":
        # (n, 4 + C, anchors): take each image's anchor with the highest class score.
        cls = raw[:, 4 : 4 + n_classes, :]
        best = cls.max(axis=1).argmax(axis=1)
        scores = cls[np.arange(cls.shape[0]), :, best]
    elif kind in ("softmax", "sigmoid"):
        scores = raw.reshape(raw.shape[0], -1)
    else:
        raise ValueError(f"unknown output kind {kind!r}")
    if scores.shape[1] != n_classes:
        raise ValueError(f"model returned {scores.shape[1]} scores, card lists {n_classes} classes")
    total = scores.sum(axis=1, keepdims=True)
    return scores / np.where(total > 0, total, 1.0)


class Adapter:
    """A loaded model: verified weights, a runtime session, and the card that explains both."""

    def __init__(
        self,
        card: ModelCard,
        store: str | os.PathLike[str] | None = None,
        *,
        threads: int = 0,
        device: str = "cpu",
    ) -> None:
        self.card = card
        self.weights: Path = verified_weight_path(card, store)
        self._session: Session = self._open(threads, device)
        canon = card.canonical_classes
        self._canon_idx = np.array([LABEL_INDEX[c] for c in canon])

    def _open(self, threads: int, device: str) -> Session:
        if self.card.runtime == "onnx":
            return OnnxSession(
                self.weights,
                input_name=self.card.input_name,
                output_name=self.card.output_name,
                threads=threads,
                device=device,
            )
        if self.card.runtime == "litert":
            return LiteRTSession(self.weights, threads=threads)
        raise ValueError(f"unknown runtime {self.card.runtime!r}")

    def prepare(self, images: list[np.ndarray]) -> np.ndarray:
        """Preprocess crops into one input batch (exposed so the engine can overlap it with inference)."""
        return preprocess_batch(images, self.card.preprocess)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run a prepared batch, honouring a card's fixed batch size, and normalise the outputs."""
        fixed = self.card.fixed_batch
        if fixed is None:
            raw = self._session.run(batch)
        else:
            parts = [self._session.run(batch[i : i + fixed]) for i in range(0, len(batch), fixed)]
            raw = np.concatenate(parts)
        return normalise_outputs(raw, self.card.output, len(self.card.classes))

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        """Return an (n, n_classes) array of distributions over the model's own classes."""
        if not images:
            return np.zeros((0, len(self.card.classes)))
        return self.infer(self.prepare(images))

    def to_canonical(self, probs: np.ndarray) -> np.ndarray:
        """Lay native-order distributions out over the canonical labels; NaN marks classes the model lacks."""
        out = np.full((probs.shape[0], len(CANONICAL_LABELS)), np.nan)
        out[:, self._canon_idx] = probs
        return out
