"""FER model cards, the registry and adapters."""

from .adapter import Adapter
from .callable import CallableModel
from .cards import Artifact, ModelCard, Preprocess
from .registry import create, create_adapter, get_card, list_models, register, register_model, resolve_models
from .store import is_available, resolve_store

__all__ = [
    "Adapter",
    "Artifact",
    "CallableModel",
    "ModelCard",
    "Preprocess",
    "create",
    "create_adapter",
    "get_card",
    "is_available",
    "list_models",
    "register",
    "register_model",
    "resolve_models",
    "resolve_store",
]
