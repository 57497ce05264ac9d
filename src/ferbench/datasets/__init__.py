"""Dataset loaders. Each reads one official on-disk layout and yields the uniform sample table."""

from . import fer2013 as _fer2013  # noqa: F401  (registers loaders)
from . import ferplus as _ferplus  # noqa: F401  (registers loaders)
from .base import Dataset, list_datasets, load_dataset, register_dataset

__all__ = ["Dataset", "list_datasets", "load_dataset", "register_dataset"]
