"""The calibration faces of a run (``--calibrate-on``): another split of the dataset, or a seeded share.

Why: conformal thresholds and temperatures must be fitted on faces that are never counted in the evaluated
split, or the coverage they promise is measured on the faces that set them. ``--calibrate-on PublicTest``
(FER2013) or ``valid`` (FER+) loads that split *in addition to* the evaluated one; ``--calibrate-on 0.3``
moves a seeded 30 % of the selected faces into calibration instead (for datasets with no spare split).
Either way the two sets of faces are disjoint, and :func:`holdout_record` says in provenance which it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DatasetError
from .base import Dataset


@dataclass(frozen=True)
class Holdout:
    """Where the calibration faces come from: a split name, or a share of the selected faces."""

    split: str | None = None
    share: float | None = None

    @property
    def name(self) -> str:
        return self.split if self.split is not None else f"seeded {100 * (self.share or 0):g} % share"


def parse_holdout(value: str | float | None) -> Holdout | None:
    """``PublicTest`` → that split; ``0.3`` → a 30 % share; None/empty → no calibration faces."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        share: float | None = value
    else:
        try:
            share = float(value)
        except ValueError:
            share = None
    if share is None:
        return Holdout(split=str(value))
    if not (0.0 < share < 1.0):
        raise DatasetError(f"--calibrate-on {value}: a share must lie in (0, 1), e.g. 0.3, or name a split")
    return Holdout(share=share)


def split_holdout(
    full: Dataset, selected: Dataset, holdout: Holdout, limit: int | None, seed: int
) -> tuple[Dataset, Dataset]:
    """(evaluated, calibration) datasets with disjoint faces; ``limit`` also caps the calibration split."""
    if holdout.split is not None:
        cal = full.select(holdout.split, limit, seed)
        overlap = set(cal.samples["sample_id"]) & set(selected.samples["sample_id"])
        if overlap:
            raise DatasetError(
                f"--calibrate-on {holdout.split} shares {len(overlap)} face(s) with the evaluated split "
                f"(e.g. '{sorted(overlap)[0]}'); evaluate another split (FER2013: --split PrivateTest "
                "--calibrate-on PublicTest; FER+: --split test --calibrate-on valid)"
            )
        return selected, cal
    df = selected.samples
    n_cal = int(round(len(df) * float(holdout.share or 0)))
    if n_cal < 1 or n_cal >= len(df):
        raise DatasetError(
            f"--calibrate-on {holdout.share}: a share of {len(df)} face(s) leaves no faces on one side"
        )
    cal_idx = df.sample(n=n_cal, random_state=seed).index
    evaluated = _subset(selected, df.drop(cal_idx))
    evaluated.vote_only = selected.vote_only  # faces with votes but no label are never calibration faces
    return evaluated, _subset(selected, df.loc[cal_idx].sort_index())


def _subset(ds: Dataset, df: Any) -> Dataset:
    return Dataset(ds.name, ds.root, df.copy(), ds.description, ds.pixels, ds.labels, ds.excluded)


def holdout_record(holdout: Holdout, cal: Dataset, seed: int) -> dict[str, Any]:
    """What provenance keeps of the calibration faces."""
    rec: dict[str, Any] = {"n_faces": len(cal)}
    if holdout.split is not None:
        rec.update(source="split", split=holdout.split)
    else:
        rec.update(source="seeded share of the selected faces", share=holdout.share, seed=seed)
    return rec
