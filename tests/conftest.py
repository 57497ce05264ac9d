"""Shared fixtures: paths to the read-only ``../shared`` folder (models, reference outputs, datasets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FERBENCH_SHARED", ROOT.parent / "shared"))
MODELS = SHARED / "models"
REFERENCE = MODELS / "_reference"
FER2013 = SHARED / "data" / "fer2013-images"
FERPLUS = SHARED / "data" / "ferplus-labels"


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
