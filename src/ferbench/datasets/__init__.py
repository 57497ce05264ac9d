"""Dataset loaders. Each reads one official on-disk layout and yields the uniform sample table."""

from . import affectnet as _affectnet  # noqa: F401  (each import registers its loaders)
from . import ckplus as _ckplus  # noqa: F401
from . import emognition as _emognition  # noqa: F401
from . import expw as _expw  # noqa: F401
from . import fer2013 as _fer2013  # noqa: F401
from . import ferplus as _ferplus  # noqa: F401
from . import folder as _folder  # noqa: F401
from . import jaffe as _jaffe  # noqa: F401
from . import kdef as _kdef  # noqa: F401
from . import manifest as _manifest  # noqa: F401
from . import rafdb as _rafdb  # noqa: F401
from .base import Dataset, list_datasets, load_dataset, register_dataset

__all__ = ["Dataset", "list_datasets", "load_dataset", "register_dataset"]
