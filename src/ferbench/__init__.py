"""ferbench: measure how far facial expression recognition (FER) models can be trusted.

FER models predict *expression labels*, what a face shows; ferbench never claims they read felt emotions.
"""

from typing import TYPE_CHECKING, Any

from .datasets import Dataset, list_datasets, load_dataset
from .errors import DatasetError, FerbenchError, ModelError, SampleError, WeightsMismatch
from .labels import CANONICAL_LABELS
from .models import create, get_card, list_models

if TYPE_CHECKING:
    from .api import RunResult, run


def __getattr__(name: str) -> Any:
    # ``run`` pulls in scikit-learn and the metrics stack; importing it lazily keeps ``ferbench --help`` and
    # the light commands quick.
    if name in ("run", "RunResult"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'ferbench' has no attribute {name!r}")


__all__ = [
    "CANONICAL_LABELS",
    "Dataset",
    "DatasetError",
    "FerbenchError",
    "ModelError",
    "RunResult",
    "SampleError",
    "WeightsMismatch",
    "create",
    "get_card",
    "list_datasets",
    "list_models",
    "load_dataset",
    "run",
]
