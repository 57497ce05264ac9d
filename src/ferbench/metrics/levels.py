"""Coarser label levels: does agreement come back when the question is coarser?

Each level maps the eight canonical expression labels to fewer classes. The mapping is applied to each rater's
*label* (a model's arg-max over the evaluated set, a dataset's label), never to probabilities, so a coarse
label is exactly "the fine label, grouped".

Valence polarity groups labels by the pleasantness of the expression they name: happy is pleasant; sad, fear,
disgust, anger and contempt are unpleasant; neutral is neutral. Surprise is the one canonical label whose
valence is ambiguous (surprised faces are judged pleasant or unpleasant depending on context), so:

* ``polarity`` (primary rule) keeps surprise as its own class: pleasant / neutral / unpleasant / surprise;
* ``polarity_surprise_pleasant`` and ``polarity_surprise_unpleasant`` are the two variants that force it into
  one side, so the report shows how much the choice matters;
* ``emotional_vs_neutral`` asks only whether the face shows any expression other than neutral.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..labels import CANONICAL_LABELS

_UNPLEASANT = {"sad": "unpleasant", "fear": "unpleasant", "disgust": "unpleasant", "anger": "unpleasant"}
_BASE = {"neutral": "neutral", "happy": "pleasant", "contempt": "unpleasant", **_UNPLEASANT}


@dataclass(frozen=True)
class Level:
    key: str
    description: str
    mapping: dict[str, str]  # canonical label -> coarse class

    def classes(self, labels: Sequence[str]) -> tuple[str, ...]:
        """Coarse classes reachable from ``labels``, in a fixed order (first appearance in canonical order)."""
        seen: list[str] = []
        for lab in CANONICAL_LABELS:
            if lab in labels and self.mapping[lab] not in seen:
                seen.append(self.mapping[lab])
        return tuple(seen)

    def index_map(self, labels: Sequence[str]) -> np.ndarray:
        """Fine label index (into ``labels``) → coarse class index (into ``classes(labels)``)."""
        classes = self.classes(labels)
        return np.array([classes.index(self.mapping[lab]) for lab in labels], dtype=np.int64)

    def apply(self, indices: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """Map an array of fine label indices (``-1`` = no label, kept) to coarse class indices."""
        idx = np.asarray(indices)
        lut = self.index_map(labels)
        return np.where(idx >= 0, lut[np.clip(idx, 0, None)], -1)


LEVELS: tuple[Level, ...] = (
    Level(
        "polarity",
        "valence polarity: pleasant / neutral / unpleasant, surprise kept as its own class (ambiguous valence)",
        {**_BASE, "surprise": "surprise"},
    ),
    Level(
        "polarity_surprise_pleasant",
        "valence polarity with surprise counted as pleasant",
        {**_BASE, "surprise": "pleasant"},
    ),
    Level(
        "polarity_surprise_unpleasant",
        "valence polarity with surprise counted as unpleasant",
        {**_BASE, "surprise": "unpleasant"},
    ),
    Level(
        "emotional_vs_neutral",
        "any expression other than neutral vs neutral",
        {lab: "neutral" if lab == "neutral" else "emotional" for lab in CANONICAL_LABELS},
    ),
)
