"""The model store: the folder where weight files live, and their verification.

Weights are never copied into the project. The store is chosen by, in order: an explicit argument
(``--model-store``), the ``FERBENCH_MODEL_STORE`` environment variable, then ``~/.cache/ferbench/models``.
In this repository's development set-up it is ``../shared/models``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import MISSING_WEIGHTS, SHA_MISMATCH, ModelError, WeightsMismatch
from ..hashing import sha256_file
from .cards import ModelCard

ENV_VAR = "FERBENCH_MODEL_STORE"
DEFAULT_STORE = Path.home() / ".cache" / "ferbench" / "models"


def resolve_store(store: str | os.PathLike[str] | None = None) -> Path:
    """Return the model store folder that this call should use (see module docstring for the order)."""
    if store is not None:
        return Path(store).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_STORE


def weight_path(card: ModelCard, store: str | os.PathLike[str] | None = None) -> Path:
    return resolve_store(store) / card.artifact.path


def is_available(card: ModelCard, store: str | os.PathLike[str] | None = None) -> bool:
    """True when the card's weight file is present and its sha256 matches the card."""
    path = weight_path(card, store)
    return path.is_file() and sha256_file(path) == card.artifact.sha256


def verified_weight_path(card: ModelCard, store: str | os.PathLike[str] | None = None) -> Path:
    """Return the weight file's path after checking it exists and matches the pinned sha256.

    Raises :class:`ModelError` for a missing file and :class:`WeightsMismatch` for a tampered one, before
    any byte of it reaches a runtime.
    """
    path = weight_path(card, store)
    if not path.is_file():
        hint = f", or run `ferbench models pull {card.id}`" if card.artifact.url else ""
        raise ModelError(MISSING_WEIGHTS.format(card.id, path, hint))
    digest = sha256_file(path)
    if digest != card.artifact.sha256:
        raise WeightsMismatch(SHA_MISMATCH.format(card.id, path, digest, card.artifact.sha256))
    return path
