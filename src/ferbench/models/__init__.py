"""FER model cards, the registry and adapters."""

from .adapter import Adapter
from .cards import Artifact, ModelCard, Preprocess
from .registry import create, get_card, list_models, register, resolve_models
from .store import is_available, resolve_store

__all__ = [
    "Adapter",
    "Artifact",
    "ModelCard",
    "Preprocess",
    "create",
    "get_card",
    "is_available",
    "list_models",
    "register",
    "resolve_models",
    "resolve_store",
]
