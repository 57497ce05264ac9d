"""Provenance recorded with every result: what ran, on what, with which versions."""

from __future__ import annotations

import hashlib
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import pandas as pd

from .models.cards import ModelCard

PACKAGES = (
    "ferbench",
    "numpy",
    "pandas",
    "pyarrow",
    "onnxruntime",
    "onnxruntime-gpu",
    "opencv-python-headless",
    "scikit-learn",
    "pillow",
    "ai-edge-litert",
    "openvino",
    "jinja2",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def ferbench_version() -> str:
    try:
        return metadata.version("ferbench")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def dataset_fingerprint(table: pd.DataFrame) -> str:
    """sha256 over (sample id, label, split, image content sha256) of every sample, in sample-id order.

    Content hashes come from the prediction store, so the fingerprint changes when any image's bytes or any
    label changes, and not when files are merely copied elsewhere.
    """
    cols = ["sample_id", "label", "split", "content_sha256"]
    t = table[cols].fillna("").sort_values("sample_id")
    h = hashlib.sha256()
    for row in t.itertuples(index=False):
        h.update("\t".join(map(str, row)).encode())
        h.update(b"\n")
    return h.hexdigest()


def provenance(
    cards: Sequence[ModelCard], fingerprint: str, command: str, seed: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "ferbench_version": ferbench_version(),
        "models": {
            c.id: {
                "sha256": c.artifact.sha256,
                "fingerprint": c.fingerprint,  # what its stored predictions are keyed on (engine.store)
                **({"version": c.version} if c.version else {}),
                "artifact": c.artifact.path,
                "upstream": c.artifact.upstream,
                "upstream_sha256": c.artifact.upstream_sha256,
                "verified": c.verified,
                "runtime": c.runtime,
            }
            for c in cards
        },
        "dataset_fingerprint": fingerprint,
        "command": command,
        "seed": seed,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **(extra or {}),
    }
