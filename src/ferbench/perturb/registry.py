"""The perturbation registry: names, graded severities, named suites, spec parsing and per-sample seeds.

A perturbation has an ordered table of parameters, one per severity (1 = mild … 5 = severe); the flip has
a single severity. ``--perturb`` specs name perturbations with optional severities::

    mask               every severity of mask
    blur:3             severity 3 only
    noise:1-5          severities 1 to 5
    jpeg:1,3           (inside a spec list use ';' or repeat the name: jpeg:1,jpeg:3)
    standard           a named suite (see SUITES)

Randomness (noise, rotation direction, mask folds) comes from a generator seeded by the run seed, the
sample id, the perturbation and the severity, so a sample gets the same perturbed image in every run, in any
order, on any number of workers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import FerbenchError
from . import ops

Op = Callable[..., np.ndarray]


class PerturbationError(FerbenchError):
    """A ``--perturb`` spec names an unknown perturbation or suite, or a severity out of range."""


@dataclass(frozen=True)
class Perturbation:
    """One kind of perturbation with its parameter per severity (index 0 is severity 1)."""

    name: str
    op: Op
    levels: tuple[float, ...]
    unit: str
    description: str

    @property
    def severities(self) -> tuple[int, ...]:
        return tuple(range(1, len(self.levels) + 1))

    def level(self, severity: int) -> float:
        if severity not in self.severities:
            raise PerturbationError(
                f"perturbation '{self.name}' has severities {_range_text(self.severities)}, got {severity}"
            )
        return self.levels[severity - 1]


def _range_text(sev: Sequence[int]) -> str:
    return f"{sev[0]}-{sev[-1]}" if len(sev) > 1 else str(sev[0])


PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in (
        Perturbation(
            "mask",
            ops.face_mask,
            (0.0, 0.25, 0.5, 0.7, 0.85),
            "top edge, share of mouth→eyes",
            "synthetic face mask over the lower face, rising from the mouth (1) to just under the eyes (5)",
        ),
        Perturbation(
            "sunglasses",
            ops.sunglasses,
            (0.6, 0.8, 1.0, 1.2, 1.45),
            "lens size × eye distance",
            "dark sunglasses-style lenses over both eyes, growing with severity",
        ),
        Perturbation(
            "blur", ops.gaussian_blur, (0.5, 1.0, 1.5, 2.0, 3.0), "sigma, px per 48 px", "Gaussian blur"
        ),
        Perturbation("noise", ops.gaussian_noise, (4, 8, 16, 24, 36), "std, grey levels", "Gaussian noise"),
        Perturbation(
            "dark", ops.brightness, (0.8, 0.6, 0.45, 0.3, 0.2), "brightness factor", "dim light (darker)"
        ),
        Perturbation(
            "contrast",
            ops.contrast,
            (0.8, 0.6, 0.45, 0.3, 0.2),
            "contrast factor",
            "flat, low-contrast light",
        ),
        Perturbation("gamma", ops.gamma, (1.3, 1.6, 2.0, 2.5, 3.0), "gamma", "under-exposure (gamma > 1)"),
        Perturbation("jpeg", ops.jpeg, (50, 30, 20, 10, 5), "JPEG quality", "JPEG compression"),
        Perturbation(
            "downscale",
            ops.downscale,
            (0.75, 0.5, 0.35, 0.25, 0.15),
            "scale factor",
            "low resolution (shrink, then enlarge back)",
        ),
        Perturbation(
            "rotate", ops.rotate, (5, 10, 15, 25, 35), "degrees", "in-plane rotation (head roll), random sign"
        ),
        Perturbation("flip", ops.hflip, (1.0,), "", "horizontal flip (should change nothing)"),
    )
}

SUITES: dict[str, tuple[str, ...]] = {
    "standard": tuple(PERTURBATIONS),
    "occlusion": ("mask", "sunglasses"),
    "light": ("dark", "contrast", "gamma"),
    "quality": ("blur", "noise", "jpeg", "downscale"),
    "pose": ("rotate", "flip"),
}


def register_perturbation(p: Perturbation) -> Perturbation:
    """Add a perturbation (a :class:`Perturbation`: name, op, one level per severity); names are unique.

    A registered perturbation is named in ``--perturb`` like the built-in ones; it joins no suite (``standard``
    stays the same list, so existing runs stay comparable).
    """
    if not isinstance(p, Perturbation):
        raise PerturbationError(f"cannot register {p!r}: give a ferbench.perturb.Perturbation")
    old = PERTURBATIONS.get(p.name)
    if old is not None and old != p:
        raise PerturbationError(f"perturbation '{p.name}' is already registered")
    if p.name in SUITES:
        raise PerturbationError(f"'{p.name}' is the name of a suite; choose another perturbation name")
    PERTURBATIONS[p.name] = p
    return p


_plugins_loaded = False


def load_plugins() -> None:
    """Register every ``ferbench.perturbations`` entry point once (see :mod:`ferbench.plugins`)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from ..plugins import entry_point_objects

    for _dist, _name, obj in entry_point_objects("ferbench.perturbations"):
        for p in obj if isinstance(obj, list | tuple) else [obj]:
            register_perturbation(p)


def reload_plugins() -> None:
    global _plugins_loaded
    _plugins_loaded = False
    load_plugins()


@dataclass(frozen=True, order=True)
class PerturbSpec:
    """One perturbation at one severity; ``key`` names its engine variant."""

    name: str
    severity: int

    @property
    def perturbation(self) -> Perturbation:
        return PERTURBATIONS[self.name]

    @property
    def key(self) -> str:
        return f"{self.name}:{self.severity}"


def _unknown(name: str) -> PerturbationError:
    return PerturbationError(
        f"unknown perturbation '{name}' in --perturb; perturbations: {', '.join(PERTURBATIONS)}; "
        f"suites: {', '.join(SUITES)}"
    )


def _severities(p: Perturbation, text: str) -> list[int]:
    try:
        if "-" in text:
            lo_s, hi_s = text.split("-", 1)
            lo, hi = int(lo_s), int(hi_s)
            if lo > hi:
                raise ValueError
            sev = list(range(lo, hi + 1))
        else:
            sev = [int(text)]
    except ValueError:
        raise PerturbationError(
            f"'{p.name}:{text}': severity must be a number or a range like 1-5 "
            f"({p.name} has {_range_text(p.severities)})"
        ) from None
    for s in sev:
        p.level(s)  # raises with the allowed range
    return sev


def parse_perturb(spec: str | Sequence[str] | None) -> list[PerturbSpec]:
    """Parse ``mask,blur:3,noise:1-5`` / ``standard`` into sorted, de-duplicated (perturbation, severity)s."""
    if spec is None:
        return []
    load_plugins()
    items = [spec] if isinstance(spec, str) else list(spec)
    parts = [t.strip() for item in items for t in item.replace(";", ",").split(",")]
    out: set[PerturbSpec] = set()
    for part in parts:
        if not part:
            continue
        name, _, sev_text = part.partition(":")
        name = name.strip().lower()
        if name in SUITES and not sev_text:
            for n in SUITES[name]:
                out.update(PerturbSpec(n, s) for s in PERTURBATIONS[n].severities)
            continue
        if name in SUITES:
            raise PerturbationError(
                f"'{part}': suite '{name}' takes no severity; name perturbations instead, e.g. blur:{sev_text}"
            )
        if name not in PERTURBATIONS:
            raise _unknown(name)
        p = PERTURBATIONS[name]
        sevs = _severities(p, sev_text.strip()) if sev_text else list(p.severities)
        out.update(PerturbSpec(name, s) for s in sevs)
    if not out and any(parts):
        raise PerturbationError(f"--perturb '{spec}' names no perturbation")
    order = list(PERTURBATIONS)
    return sorted(out, key=lambda s: (order.index(s.name), s.severity))


def sample_seed(seed: int, sample_id: str, name: str, severity: int) -> int:
    """A 64-bit seed from the run seed, the sample id, the perturbation and the severity (stable everywhere)."""
    digest = hashlib.sha256(f"{seed}\x1f{sample_id}\x1f{name}\x1f{severity}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def apply(
    img: np.ndarray,
    spec: PerturbSpec | str,
    *,
    sample_id: str,
    seed: int = 0,
    landmarks: np.ndarray | None = None,
) -> np.ndarray:
    """Apply one perturbation at one severity to a BGR uint8 crop, deterministically for (seed, sample_id)."""
    if isinstance(spec, str):
        specs = parse_perturb(spec)
        if len(specs) != 1:
            raise PerturbationError(f"'{spec}' must name exactly one perturbation and severity")
        spec = specs[0]
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{sample_id}: perturbations take BGR uint8 images, got {img.dtype} {img.shape}")
    p = spec.perturbation
    rng = np.random.default_rng(sample_seed(seed, sample_id, spec.name, spec.severity))
    return p.op(img, p.level(spec.severity), rng, landmarks)
