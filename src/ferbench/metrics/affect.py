"""Valence/arousal view of categorical expression predictions, and agreement statistics for continuous ratings.

Why: two models that say "fear" and "surprise" disagree as categories but nearly agree on "high arousal";
placing labels on the valence/arousal circumplex shows how far apart disagreements really are.

Coordinates (``VA_COORDINATES``) are ferbench's own placement of the canonical labels in [-1, 1]^2, chosen to
follow the qualitative layout of Russell's circumplex (Russell, J. A. (1980). A circumplex model of affect.
Journal of Personality and Social Psychology, 39(6), 1161–1178): pleasant states to the right, activated
states at the top, neutral at the origin. They are *not* values measured or tabulated in that paper, and not
AffectNet means; ``docs/uncertainty.md`` says so. The happy coordinate lies in the region AffectNet's
annotation tool predefined for "happy" (valence in (0, 1], arousal in [-0.2, 0.5]; Mollahosseini et al., 2017).
They describe what a face *shows* in the model's label, not what anyone feels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

VA_SOURCE = (
    "ferbench v1 placement following the qualitative layout of Russell (1980), 'A circumplex model of "
    "affect', J. Pers. Soc. Psychol. 39(6):1161-1178; not values tabulated in that paper"
)

VA_COORDINATES: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "happy": (0.8, 0.3),
    "surprise": (0.2, 0.8),
    "fear": (-0.6, 0.7),
    "anger": (-0.7, 0.6),
    "disgust": (-0.7, 0.3),
    "contempt": (-0.5, 0.2),
    "sad": (-0.7, -0.4),
}


def coordinate_matrix(labels: Sequence[str]) -> np.ndarray:
    """(k, 2) valence/arousal rows for ``labels`` in their order."""
    return np.array([VA_COORDINATES[lab] for lab in labels], dtype=np.float64)


def expected_va(proba: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Probability-weighted (valence, arousal) per item: ``proba (n, k) @ coordinates (k, 2)``."""
    p = np.asarray(proba, dtype=np.float64)
    return np.asarray(p @ coordinate_matrix(labels))


def lin_ccc(x: np.ndarray, y: np.ndarray) -> float | None:
    """Lin's (1989) concordance correlation: ``2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2)``, 1/n moments.

    None when undefined (fewer than two items, or both series constant and equal).
    """
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("x and y must be 1-D of equal length")
    if len(a) < 2:
        return None
    ma, mb = a.mean(), b.mean()
    sxy = np.mean((a - ma) * (b - mb))
    den = a.var() + b.var() + (ma - mb) ** 2
    if den <= 0:
        return None
    return float(2 * sxy / den)


def icc(ratings: np.ndarray) -> dict[str, float | None]:
    """Two-way intraclass correlations for an (n items, k raters) table with no missing cells.

    ``icc_a1``: absolute agreement, single rater (McGraw & Wong ICC(A,1) = Shrout & Fleiss ICC(2,1));
    ``icc_c1``: consistency, single rater (ICC(C,1) = ICC(3,1)). From the two-way ANOVA mean squares:
    ICC(A,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n); ICC(C,1) = (MSR - MSE) / (MSR + (k-1) MSE).
    """
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("ratings must be (n items, k raters)")
    n, k = x.shape
    if n < 2 or k < 2:
        return {"icc_a1": None, "icc_c1": None, "n": int(n), "k": int(k)}  # type: ignore[dict-item]
    if not np.all(np.isfinite(x)):
        raise ValueError("ratings hold missing values; use items every rater scored")
    grand = x.mean()
    ss_r = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_c = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_e = np.sum((x - grand) ** 2) - ss_r - ss_c
    msr, msc, mse = ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1))
    den_a = msr + (k - 1) * mse + k * (msc - mse) / n
    den_c = msr + (k - 1) * mse
    return {
        "icc_a1": float((msr - mse) / den_a) if den_a > 0 else None,
        "icc_c1": float((msr - mse) / den_c) if den_c > 0 else None,
        "n": int(n),
        "k": int(k),
    }  # type: ignore[dict-item]
