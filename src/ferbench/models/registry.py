"""Look models up by id, list them, and create adapters. Nothing heavy happens at import time."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import UNKNOWN_MODEL, ModelError
from .adapter import Adapter
from .cards import ModelCard
from .store import StoreSpec, is_available, with_pinned_sha256
from .zoo import CARDS

_REGISTRY: dict[str, ModelCard] = {}


def register(card: ModelCard) -> ModelCard:
    """Add a card to the registry; ids are unique."""
    if card.id in _REGISTRY and _REGISTRY[card.id] != card:
        raise ValueError(f"model id {card.id!r} registered twice")
    _REGISTRY[card.id] = card
    return card


for _card in CARDS:
    register(_card)


def list_models(*, verified_only: bool = False) -> list[ModelCard]:
    """All registered cards, in registration order."""
    return [c for c in _REGISTRY.values() if c.verified or not verified_only]


def get_card(model_id: str) -> ModelCard:
    try:
        return _REGISTRY[model_id]
    except KeyError:
        raise ModelError(UNKNOWN_MODEL.format(model_id, ", ".join(_REGISTRY))) from None


def resolve_models(spec: str | Iterable[str], store: StoreSpec = None) -> list[ModelCard]:
    """Turn a ``--models`` value (comma list, or ``all``) into cards.

    Cards without a published sha256 get the digest their store's lock file pinned (see
    :func:`~ferbench.models.store.with_pinned_sha256`), so predictions and provenance name the exact file.
    ``all`` means every verified, recommended model whose weights are available in the store; naming a model
    explicitly that is missing, unverified or not recommended is allowed and fails (missing) or is flagged
    (unverified) later.
    """
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    if names == ["all"]:
        cards = [c for c in list_models(verified_only=True) if c.recommended and is_available(c, store)]
        if not cards:
            raise ModelError("`--models all`: no verified model's weights were found in the model store")
        return cards
    if not names:
        raise ModelError("no models given")
    seen: list[ModelCard] = []
    for n in names:
        card = with_pinned_sha256(get_card(n), store)
        if card not in seen:
            seen.append(card)
    return seen


def create(model_id: str, store: StoreSpec = None, **kwargs: object) -> Adapter:
    """Load a model by id: verify its weights, open its runtime session."""
    return Adapter(get_card(model_id), store, **kwargs)  # type: ignore[arg-type]
