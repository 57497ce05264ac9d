"""ferbench: measure how far facial expression recognition (FER) models can be trusted.

FER models predict *expression labels*, what a face shows; ferbench never claims they read felt emotions.
"""

from .api import RunResult, run
from .datasets import Dataset, list_datasets, load_dataset
from .errors import DatasetError, FerbenchError, ModelError, SampleError, WeightsMismatch
from .labels import CANONICAL_LABELS
from .models import create, get_card, list_models

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
