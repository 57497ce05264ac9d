"""Running the engine once per perturbation variant, on top of whatever transform the run already uses.

The perturbation is applied after the run's own transform (e.g. the face crop), so it acts on exactly the
image the models would otherwise see. Each (perturbation, severity) is cached in the prediction store under
its own variant, ``<base>+<name>:<severity>`` (plus ``:seed<N>`` when the run seed is not 0, because the
seed changes the noise), so re-running reuses every perturbed prediction already computed.

Landmarks for placing occluders are read from the row's ``crop_lm{0..4}_{x,y}`` columns (crop pixels, the
order of :mod:`ferbench.perturb.ops`) when a dataset or face stage provides them; otherwise the occluders
are placed from the crop geometry. Where the face stage gives models their own crops (``Crops``), each crop
is perturbed; the landmark columns describe the shared crop only, so the others are placed by geometry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..datasets.base import Dataset
from ..engine import EngineOptions, EngineReport, PredictionStore, run_models
from ..faces.types import SHARED_CROP, Crops
from ..fingerprint import variant_fingerprint
from ..models.cards import ModelCard
from ..models.store import StoreSpec
from .ops import OPS_VERSION
from .registry import PERTURBATIONS, PerturbSpec, apply

Transform = Callable[[np.ndarray, pd.Series], np.ndarray | Crops]
LANDMARK_COLUMNS = tuple(f"crop_lm{i}_{a}" for i in range(5) for a in "xy")


def variant_name(base: str, spec: PerturbSpec, seed: int = 0) -> str:
    """The engine variant under which ``spec``'s predictions are cached."""
    return f"{base}+{spec.key}" + (f":seed{seed}" if seed else "")


def perturb_fingerprint(variant: str, spec: PerturbSpec, seed: int, base_fingerprint: str) -> str:
    """The variant fingerprint of ``spec`` on top of the run's own pipeline (``base_fingerprint``).

    Keys the op's code (module and name, :data:`~ferbench.perturb.ops.OPS_VERSION`), its whole level table
    and the level used, and the seed (also when it is 0 and the variant name leaves it out).
    """
    p = PERTURBATIONS[spec.name]
    return variant_fingerprint(
        variant,
        {
            "base": base_fingerprint,
            "perturbation": spec.name,
            "op": f"{p.op.__module__}.{p.op.__qualname__}",
            "op_version": OPS_VERSION,
            "severity": spec.severity,
            "level": p.level(spec.severity),
            "levels": p.levels,
            "seed": seed,
        },
    )


def row_landmarks(row: pd.Series) -> np.ndarray | None:
    """Five crop-space landmarks from the row, or None when the row has none (or any is missing)."""
    if not all(c in row.index for c in LANDMARK_COLUMNS):
        return None
    lm = pd.to_numeric(row[list(LANDMARK_COLUMNS)], errors="coerce").to_numpy(dtype=np.float64)
    return None if np.isnan(lm).any() else lm.reshape(5, 2)


def perturb_transform(spec: PerturbSpec, seed: int = 0, base: Transform | None = None) -> Transform:
    """An engine transform: the run's own transform (if any), then ``spec`` seeded per sample."""

    def transform(img: np.ndarray, row: pd.Series) -> np.ndarray | Crops:
        out = base(img, row) if base is not None else img
        sid, lm = str(row["sample_id"]), row_landmarks(row)
        if isinstance(out, Crops):
            return out.map(
                lambda key, c: apply(
                    c, spec, sample_id=sid, seed=seed, landmarks=lm if key == SHARED_CROP else None
                )
            )
        return apply(out, spec, sample_id=sid, seed=seed, landmarks=lm)

    return transform


def run_perturbations(
    dataset: Dataset,
    cards: Sequence[ModelCard],
    store: PredictionStore,
    specs: Sequence[PerturbSpec],
    *,
    seed: int = 0,
    options: EngineOptions | None = None,
    base_transform: Transform | None = None,
    model_store: StoreSpec = None,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    engine: Callable[..., EngineReport] = run_models,
    crops: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, EngineReport]]:
    """Fill the store for every perturbation variant; return the variant descriptions and engine reports.

    ``engine`` is the function that fills the store for one variant: the local
    :func:`~ferbench.engine.runner.run_models` or anything with its signature (the Ray engine, bound to a
    cluster). The descriptions (``variant``, ``perturbation``, ``severity``, ``level``, ``unit``) are what the
    ``robustness`` metrics section reads from ``EvalContext.options["perturb"]``.
    """
    opts = options or EngineOptions()
    described: list[dict[str, Any]] = []
    reports: dict[str, EngineReport] = {}
    for spec in specs:
        v = variant_name(opts.variant, spec, seed)
        base_fp = opts.variant_fingerprint or variant_fingerprint(opts.variant)
        fp = perturb_fingerprint(v, spec, seed, base_fp)
        reports[v] = engine(
            dataset,
            cards,
            store,
            model_store=model_store,
            options=replace(opts, variant=v, variant_fingerprint=fp),
            progress=progress,
            transform=perturb_transform(spec, seed, base_transform),
            crops=crops,
        )
        p = PERTURBATIONS[spec.name]
        described.append(
            {
                "variant": v,
                "perturbation": spec.name,
                "severity": spec.severity,
                "level": p.level(spec.severity),
                "unit": p.unit,
            }
        )
    return described, reports
