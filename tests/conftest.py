"""Shared fixtures: paths to the read-only ``../shared`` folder (models, reference outputs, datasets)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FERBENCH_SHARED", ROOT.parent / "shared"))
MODELS = SHARED / "models"
REFERENCE = MODELS / "_reference"
FER2013 = SHARED / "data" / "fer2013-images"
FERPLUS = SHARED / "data" / "ferplus-labels"
FERPLUS_IMAGES = SHARED / "data" / "ferplus-images"
# Weights that live only in published packages (facex, face-api.js age/gender) are pulled by the README's first
# command into this ignored folder of the clone; the tests search it instead of the user's ~/.cache, so they
# read nothing outside the repository but ../shared. The variable reaches CLI subprocesses and Ray workers too.
PULLED = ROOT / ".cache" / "models"
os.environ["FERBENCH_MODEL_STORE"] = str(PULLED)
# Batching verdicts and lifted batch-1 models (ferbench.models.batching) go to a fresh folder per test session,
# never to the user's ~/.cache/ferbench, so every session proves them again.
os.environ["FERBENCH_CACHE"] = tempfile.mkdtemp(prefix="ferbench-test-cache-")


@pytest.fixture(autouse=True, scope="session")
def _no_user_cache() -> None:
    """The store search path ends at PULLED, never at the user's ~/.cache/ferbench/models."""
    from ferbench.models import store

    store.DEFAULT_STORE = PULLED


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need the project's shared/ folder beside the repository")
    return path


@pytest.fixture(scope="session")
def model_store() -> Path:
    return _need(MODELS)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return _need(REFERENCE)


@pytest.fixture(scope="session")
def fer2013_root() -> Path:
    return _need(FER2013)


@pytest.fixture(scope="session")
def ferplus_root() -> Path:
    return _need(FERPLUS)


@pytest.fixture(scope="session")
def ferplus_images_root() -> Path:
    """FER+'s own layout: FER2013Valid/ and FER2013Test/ with PNGs, label.csv and fer2013_label.csv."""
    return _need(FERPLUS_IMAGES)
