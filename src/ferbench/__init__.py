"""ferbench: measure how far facial expression recognition (FER) models can be trusted.

FER models predict *expression labels*, what a face shows; ferbench never claims they read felt emotions.

The Python API in one screen::

    import ferbench
    res = ferbench.run(ferbench.RunConfig("fer2013-images", data_root="...", models="my-card.toml,all"))
    res.summary()        # one row per model
    res.predictions      # one row per sample x model x variant

Bring a model in as a card file (``ferbench models init``), a :class:`CallableModel`, or a plugin
(:func:`register_model`, entry-point group ``ferbench.models``; see ``docs/extending.md``).
"""

from typing import TYPE_CHECKING, Any

from .datasets import Dataset, list_datasets, load_dataset, register_dataset
from .errors import DatasetError, FerbenchError, ModelError, SampleError, WeightsMismatch
from .labels import CANONICAL_LABELS
from .models import (
    Artifact,
    CallableModel,
    ModelCard,
    Preprocess,
    create,
    get_card,
    list_models,
    register_model,
)

if TYPE_CHECKING:
    from .api import RunConfig, RunResult, run
    from .engine import EngineOptions
    from .perturb import Perturbation, register_perturbation

# ``run`` pulls in scikit-learn and the metrics stack; importing these lazily keeps ``ferbench --help`` and the
# light commands quick.
_LAZY = {
    "run": "api",
    "RunConfig": "api",
    "RunResult": "api",
    "EngineOptions": "engine",
    "Perturbation": "perturb",
    "register_perturbation": "perturb",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ferbench' has no attribute {name!r}")


__all__ = [
    "CANONICAL_LABELS",
    "Artifact",
    "CallableModel",
    "Dataset",
    "DatasetError",
    "EngineOptions",
    "FerbenchError",
    "ModelCard",
    "ModelError",
    "Perturbation",
    "Preprocess",
    "RunConfig",
    "RunResult",
    "SampleError",
    "WeightsMismatch",
    "create",
    "get_card",
    "list_datasets",
    "list_models",
    "load_dataset",
    "register_dataset",
    "register_model",
    "register_perturbation",
    "run",
]
