"""The model zoo: one TOML card per model in ``ferbench/models/cards/``, read by the same loader as a user's card.

Each card file is the single place that states its model's label order and preprocessing; adapters and reports
read it. Sources and checks are in ``docs/models.md``; every card with ``verified = true`` is pinned by
``tests/test_models_reference.py`` to the scores its original runtime produced on real face crops
(``_reference/outputs`` of the model store). Cards with ``verified = false`` are popular models whose weights
have not been checked here: their weights are not in this project's offline store, so nobody has compared
ferbench's outputs with the original runtime's yet. Where such a card has no ``sha256``,
``ferbench models pull ID`` records the digest in the store's lock file on first download and refuses a later
mismatch; models whose upstream weights are a pickle have no ``url`` (they need a one-off export to ONNX,
described in ``notes``), because ferbench never unpickles a file at run time. Promote a card to
``verified = true`` only after a reference-output test against the original runtime passes.

Order: verified cards first, then the rest, each group by id (``models list`` and ``--models all`` use it).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .cardfile import load_zoo_card
from .cards import ModelCard

CARD_DIR = Path(str(resources.files("ferbench.models") / "cards"))


def load_zoo(folder: Path = CARD_DIR) -> tuple[ModelCard, ...]:
    cards = [load_zoo_card(p) for p in sorted(folder.glob("*.toml"))]
    for card, path in zip(cards, sorted(folder.glob("*.toml")), strict=True):
        if path.stem != card.id:
            raise ValueError(f"zoo card '{path.name}' holds id '{card.id}'; name the file '{card.id}.toml'")
    return tuple(sorted(cards, key=lambda c: (not c.verified, c.id)))


CARDS: tuple[ModelCard, ...] = load_zoo()
