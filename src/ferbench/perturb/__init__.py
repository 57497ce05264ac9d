"""Graded, seeded perturbations of face crops (masks, sunglasses, blur, noise, light, JPEG, scale, pose).

See ``docs/robustness.md``. :func:`parse_perturb` turns ``--perturb`` specs into (perturbation, severity)
pairs, :func:`apply` perturbs one crop, and :func:`run_perturbations` runs the engine once per variant.
"""

from .engine import perturb_transform, run_perturbations, variant_name
from .registry import (
    PERTURBATIONS,
    SUITES,
    Perturbation,
    PerturbationError,
    PerturbSpec,
    apply,
    parse_perturb,
    register_perturbation,
    sample_seed,
)

__all__ = [
    "PERTURBATIONS",
    "SUITES",
    "PerturbSpec",
    "Perturbation",
    "PerturbationError",
    "apply",
    "parse_perturb",
    "register_perturbation",
    "perturb_transform",
    "run_perturbations",
    "sample_seed",
    "variant_name",
]
