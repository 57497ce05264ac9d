"""Stable content hashes of configuration objects: what keys a stored prediction to what produced it.

A prediction row is reused only when its *model fingerprint* (every card field that can change an output,
plus the adapter code's version) and its *variant fingerprint* (every parameter of the image pipeline in front
of the model: face stage, perturbation, their code versions) both match the run's. The hash is taken over a
canonical JSON form (sorted keys, tuples as lists), so field order, dict order and Python's hash seed never
change it, and a field another issue adds to a dataclass is keyed without anyone touching this module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical(obj: Any) -> Any:
    """A JSON-ready form of plain dataclasses, dicts, tuples and scalars, the same on every machine."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, float):
        return repr(obj)  # exact: 0.1 and 0.1000000001 must not collide
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    raise TypeError(f"cannot fingerprint a {type(obj).__name__}; use plain fields")


def digest(obj: Any, kind: str) -> str:
    """``kind:`` + the first 32 hex digits of sha256 over ``obj``'s canonical JSON (``kind`` names the space)."""
    text = json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"))
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def variant_fingerprint(variant: str, spec: Mapping[str, Any] | None = None) -> str:
    """The fingerprint of an image pipeline: its variant name plus every parameter in ``spec``.

    The face stage and the perturbations pass their full parameters (detector file and thresholds, op, code
    version, level, seed, the fingerprint of the pipeline they sit on); a caller that gives none (a plain run,
    a test's own transform) keys on the name alone and must change the name when its transform changes.
    """
    return digest({"variant": variant, "spec": dict(spec or {})}, "variant")
