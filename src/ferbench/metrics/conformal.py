"""Split-conformal prediction sets: a set of labels per face with a guaranteed share of faces covered.

Why: a threshold on a softmax promises nothing, and FER models are confidently wrong often. Split conformal
prediction turns any model's (restricted, renormalised) probabilities into *sets* of labels such that, for
faces exchangeable with a held-out calibration split, the true label lies in the set for at least a
``confidence_level`` share of faces, with no retraining. The price is paid in set size, which is what
makes the sets informative: large sets are where the model (and, on FER+, often people) are unsure.

Vocabulary follows scikit-learn / MAPIE: ``confidence_level`` is 1 − α; ``conformity_scores`` are the
non-conformity scores of the true labels on the calibration split (larger: less typical); the threshold
(MAPIE's ``quantiles_``) is their conformal quantile. Definitions (also in ``docs/uncertainty.md``):

* **Quantile**: with ``n`` calibration scores, the threshold is the ``k``-th smallest score with
  ``k = ceil((n + 1) · confidence_level)``, computed exactly as MAPIE's ``_compute_classification_quantile``
  does (``np.quantile(scores, k / n, method="lower")``, α taken as ``1 − confidence_level``). When ``k > n``
  the quantile does not exist (the only valid set would be every label): refused with
  :class:`ConformalError`.
* **LAC** (Sadinle et al., 2019): score of label ``j`` is ``1 − p_j``; the set is every label with
  ``1 − p_j ≤ threshold``. Smallest sets on average; may be empty.
* **APS** (Romano et al., 2020): labels in decreasing probability; score of ``j`` is the cumulative
  probability up to and including ``j``. Non-randomised sets are MAPIE's ``include_last_label=False`` rule:
  the labels whose cumulative probability is ``≤ threshold``, never fewer than the top label, then every
  label at least as probable as the least probable one included (ties are never split), never a label of
  zero probability (a label the model lacks, see the restricted label rule). The never-empty rule covers
  every face whose top label is surer than the threshold, so these sets cover more than the level.
* **Randomised** (``lac_randomized``, ``aps_randomized``…): for APS/RAPS the score is ``cumsum − u · p_j``
  with one ``u ~ U(0, 1)`` per face (Romano's randomisation); for every method a label is then in the set
  when its *smoothed conformal p-value* exceeds α: ``(#{cal > s} + v · (#{cal = s} + 1)) / (n + 1) > α``
  with a second draw ``v ~ U(0, 1)`` per face (Vovk's tie-breaking). Why: the plain quantile covers at least
  the level, and far more when many calibration scores are tied at the threshold (a model that gives its
  true label an exact 0 on more than α of faces makes the threshold 1 and every set full; vote shares take
  few values); the smoothed p-value of the true label is exactly uniform, so coverage is exactly the level
  on average, ties or not. Membership depends on the calibration scores only near the threshold: the
  distinct scores whose counts can make it random are kept (:class:`TieWindow`). Sets may be empty.
* **RAPS** (Angelopoulos et al., 2021): APS plus ``lam · max(0, rank_j − k_reg)`` (rank 1-based), which
  penalises long tails of unlikely labels; sets as for APS. ``lam`` and ``k_reg`` are fixed (not tuned on
  the calibration split, so that split stays a pure calibration split): defaults ``RAPS_LAMBDA`` and
  ``RAPS_K_REG``.
* **Class-conditional (Mondrian)**: one threshold per label from the calibration faces of that label, so
  coverage holds *per true label* (marginal coverage can hide a label that is never covered); a label
  needs enough calibration faces of its own. Label ``j`` is in the set when its score is ``≤`` its label's
  threshold (for APS/RAPS non-randomised, then closed upwards in probability as above); randomised, when its
  smoothed p-value among that label's calibration scores exceeds α.

Non-randomised rules compare with MAPIE's tolerance ``TOL = 1e-8`` so their sets equal MAPIE's on the same
scores; randomised rules count ties exactly (see :func:`_counts_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import FerbenchError

METHODS: tuple[str, ...] = ("lac", "aps", "raps")
TOL = 1e-8  # MAPIE's EPSILON: the float tolerance of every score-vs-threshold comparison
RAPS_LAMBDA = 0.01
RAPS_K_REG = 1


class ConformalError(FerbenchError):
    """Conformal sets cannot be calibrated as asked (level, calibration split too small, label absent)."""


def check_confidence_level(level: Any, what: str = "--conformal") -> float:
    """A confidence level strictly between 0 and 1 (0.9: 90 % of faces covered)."""
    try:
        v = float(level)
    except (TypeError, ValueError):
        raise ConformalError(f"{what} {level!r} is not a number; give a level such as 0.9") from None
    if not (0.0 < v < 1.0):
        raise ConformalError(f"{what} {level!r} is outside (0, 1); give a level such as 0.9 (90 % coverage)")
    return v


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ConformalError(f"unknown conformal method '{method}'; use one of {', '.join(METHODS)}")
    return method


def quantile_rank(n: int, confidence_level: float) -> int:
    """``k = ceil((n + 1)(1 − α))`` with α = 1 − level, in MAPIE's floating-point order of operations."""
    alpha = 1.0 - confidence_level
    return int(np.ceil((n + 1) * (1.0 - alpha)))


def min_calibration_size(confidence_level: float) -> int:
    """The fewest calibration faces for which the conformal quantile at this level exists."""
    n = 1
    while quantile_rank(n, confidence_level) > n:
        n += 1
    return n


def conformal_quantile(scores: np.ndarray, confidence_level: float, what: str = "") -> float:
    """The ``ceil((n+1)·level)``-th smallest score (see module docstring); refused where it does not exist."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    n = len(s)
    level = check_confidence_level(confidence_level)
    k = quantile_rank(n, level)
    if n == 0 or k > n:
        prefix = f"{what}: " if what else ""
        raise ConformalError(
            f"{prefix}calibration split has {n} face(s); a {100 * level:g} % set needs at least "
            f"{min_calibration_size(level)} (the conformal quantile ceil((n+1)·{level:g}) must be ≤ n); use a "
            "larger calibration split or a lower level"
        )
    return float(np.quantile(s, k / n, method="lower"))


def _check_proba(proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"expected probabilities of shape (n, k) with k ≥ 2, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("probabilities hold NaN or infinite values; drop unscored faces first")
    return p


def _check_y(y: np.ndarray, n: int, k: int) -> np.ndarray:
    t = np.asarray(y, dtype=np.int64)
    if t.shape != (n,):
        raise ValueError(f"expected {n} labels, got shape {t.shape}")
    if n and (t.min() < 0 or t.max() >= k):
        raise ValueError("y holds label indices outside 0..k-1")
    return t


def _cumulative(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per label, the cumulative probability through it in decreasing order, and its 1-based rank.

    Ties are ordered as MAPIE orders them (``fliplr(argsort)``, stable: the higher label index first).
    """
    order = np.fliplr(np.argsort(proba, axis=1, kind="stable"))
    sorted_p = np.take_along_axis(proba, order, axis=1)
    inv = np.argsort(order, axis=1)
    cum = np.take_along_axis(np.cumsum(sorted_p, axis=1), inv, axis=1)
    return cum, inv + 1


def label_scores(
    proba: np.ndarray,
    method: str,
    *,
    u: np.ndarray | None = None,
    lam: float = RAPS_LAMBDA,
    k_reg: int = RAPS_K_REG,
) -> np.ndarray:
    """(n, k) non-conformity score of every label of every face; ``u`` (n,) randomises APS/RAPS."""
    p = _check_proba(proba)
    check_method(method)
    if method == "lac":
        return 1.0 - p
    cum, rank = _cumulative(p)
    if u is not None:
        uu = np.asarray(u, dtype=np.float64).reshape(-1, 1)
        if len(uu) != len(p):
            raise ValueError(f"expected {len(p)} uniform draws, got {len(uu)}")
        cum = cum - uu * p
    if method == "raps":
        cum = cum + lam * np.maximum(0, rank - k_reg)
    return cum


def conformity_scores(
    proba: np.ndarray,
    y: np.ndarray,
    method: str,
    *,
    u: np.ndarray | None = None,
    lam: float = RAPS_LAMBDA,
    k_reg: int = RAPS_K_REG,
) -> np.ndarray:
    """(n,) score of each face's true label: what the threshold is the conformal quantile of."""
    s = label_scores(proba, method, u=u, lam=lam, k_reg=k_reg)
    t = _check_y(y, len(s), s.shape[1])
    return np.asarray(s[np.arange(len(t)), t])


def prediction_sets(
    proba: np.ndarray,
    thresholds: float | Sequence[float] | np.ndarray,
    method: str,
    *,
    u: np.ndarray | None = None,
    lam: float = RAPS_LAMBDA,
    k_reg: int = RAPS_K_REG,
) -> np.ndarray:
    """(n, k) boolean membership: label ``j`` of face ``i`` is in the set (rules in the module docstring).

    ``thresholds`` is one number (marginal) or one per label (class-conditional). ``u`` given: randomised
    APS/RAPS sets.
    """
    p = _check_proba(proba)
    q = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (p.shape[1],))
    scores = label_scores(p, method, u=u, lam=lam, k_reg=k_reg)
    base = scores - q[None, :] <= TOL
    if method == "lac" or u is not None:
        return np.asarray(base)
    # Non-randomised APS/RAPS: never empty, closed upwards in probability (ties kept), no zero-mass label.
    n = len(p)
    top = p.argmax(axis=1)
    base[np.arange(n), top] = True
    last = np.where(base, p, np.inf).min(axis=1)
    nonzero_min = np.where(p > TOL, p, np.inf).min(axis=1)
    last = np.where(last <= TOL, nonzero_min, last)
    return np.asarray(p - last[:, None] >= -TOL)


def _position(confidence_level: float, n: int) -> float:
    """``c = (n + 1)(1 − α)``: a smoothed p-value exceeds α exactly when ``#{cal ≤ s} − v·(#{cal = s} + 1) < c − 1``."""
    return (n + 1) * (1.0 - (1.0 - confidence_level))


def _smoothed_in(at_or_below: np.ndarray, equal: np.ndarray, v: np.ndarray, c: float) -> np.ndarray:
    """Smoothed p-value ``> α`` from ``R = #{cal ≤ s}``, ``E = #{cal = s}`` and the tie draw ``v``."""
    return np.asarray(at_or_below - v * (equal + 1) < c - 1)


def _counts_at(
    values: np.ndarray, cum: np.ndarray, cnt: np.ndarray, s: np.ndarray, below: Any = 0
) -> tuple[Any, Any]:
    """``#{cal ≤ s}`` and ``#{cal = s}`` of scores ``s`` among ascending distinct ``values`` held ``cnt`` times
    (``cum`` their running total; the last axis of ``cum``/``cnt`` runs over ``values``); ``below`` is the
    count for a score under the first value (0 when ``values`` are all the scores, not a window of them).

    Exact comparisons, not MAPIE's ``TOL``: calibration and evaluated scores come from the same arithmetic,
    so a tie is an exact tie (an exact 0 probability gives exactly 1), while a tolerance would merge the
    distinct scores just below 1 that an over-confident model produces by the hundred."""
    m = len(values)
    idx = np.searchsorted(values, s, side="left")
    at = np.minimum(idx, m - 1)
    match = (idx < m) & (values[at] == s)
    prev = np.maximum(idx - 1, 0)
    below_prev = np.where(idx > 0, cum[..., prev], below)
    r = np.where(match, cum[..., at], below_prev)
    e = np.where(match, cnt[..., at], 0)
    return r, e


@dataclass(frozen=True)
class TieWindow:
    """The calibration scores a smoothed (randomised) rule needs: the distinct ones where membership is random.

    Why not every score: a test score below the window is always in the set and one above it never is, so
    the few distinct scores in between (two when scores are continuous, a handful when they are tied) with
    their counts are the whole rule, small enough for ``conformal.json``.
    """

    n: int  # calibration scores the window was cut from
    values: tuple[float, ...]  # ascending distinct scores
    at_or_below: tuple[int, ...]  # calibration scores ≤ each value
    equal: tuple[int, ...]  # calibration scores equal to each value

    @classmethod
    def fit(cls, scores: np.ndarray, confidence_level: float) -> TieWindow:
        s = np.asarray(scores, dtype=np.float64).ravel()
        vals, cnt = np.unique(s, return_counts=True)
        cum = np.cumsum(cnt)
        c = _position(confidence_level, len(s))
        keep = (cum - cnt < c) & (cum >= c - 1)
        return cls(
            len(s),
            tuple(float(x) for x in vals[keep]),
            tuple(int(x) for x in cum[keep]),
            tuple(int(x) for x in cnt[keep]),
        )

    def contains(self, scores: np.ndarray, v: np.ndarray, confidence_level: float) -> np.ndarray:
        """Boolean, shaped like ``scores``: smoothed p-value > α, with tie draws ``v`` broadcast against it.

        Below the window the count ``≤ s`` is the first value's count below it (``at_or_below − equal``).
        """
        s = np.asarray(scores, dtype=np.float64)
        vals = np.asarray(self.values, dtype=np.float64)
        cum = np.asarray(self.at_or_below, dtype=np.int64)
        cnt = np.asarray(self.equal, dtype=np.int64)
        r, e = _counts_at(vals, cum, cnt, s, below=cum[0] - cnt[0])
        return _smoothed_in(r, e, np.asarray(v, dtype=np.float64), _position(confidence_level, self.n))

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "values": list(self.values),
            "at_or_below": list(self.at_or_below),
            "equal": list(self.equal),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TieWindow:
        return cls(
            int(d["n"]),
            tuple(float(x) for x in d["values"]),
            tuple(int(x) for x in d["at_or_below"]),
            tuple(int(x) for x in d["equal"]),
        )


@dataclass(frozen=True)
class ConformalCalibration:
    """Thresholds fitted on a calibration split: everything needed to make sets for new faces."""

    method: str
    confidence_level: float
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]  # one per label (all equal unless class-conditional)
    n_calibration: int
    randomized: bool = False
    mondrian: bool = False
    lam: float = RAPS_LAMBDA
    k_reg: int = RAPS_K_REG
    n_per_label: dict[str, int] = field(default_factory=dict)
    # randomised rules: one tie window (marginal) or one per label (class-conditional)
    windows: tuple[TieWindow, ...] = ()
    # the calibration faces' scores and true labels, for the procedure interval; not part of the stored rule
    scores: np.ndarray | None = field(default=None, compare=False, repr=False)
    score_labels: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """``lac``, ``aps_randomized``, ``lac_mondrian``…: the name of this set rule in ``metrics.json``."""
        return (
            self.method + ("_randomized" if self.randomized else "") + ("_mondrian" if self.mondrian else "")
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "method": self.method,
            "confidence_level": self.confidence_level,
            "randomized": self.randomized,
            "mondrian": self.mondrian,
            "labels": list(self.labels),
            "n_calibration": self.n_calibration,
            "n_per_label": dict(self.n_per_label),
        }
        if self.mondrian:
            d["thresholds"] = dict(zip(self.labels, self.thresholds, strict=True))
        else:
            d["threshold"] = self.thresholds[0]
        if self.randomized:
            if self.mondrian:
                d["tie_windows"] = {
                    lab: w.to_dict() for lab, w in zip(self.labels, self.windows, strict=True)
                }
            else:
                d["tie_window"] = self.windows[0].to_dict()
        if self.method == "raps":
            d.update(lam=self.lam, k_reg=self.k_reg)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConformalCalibration:
        labels = tuple(str(x) for x in d["labels"])
        if d.get("mondrian"):
            th = tuple(float(d["thresholds"][lab]) for lab in labels)
        else:
            th = (float(d["threshold"]),) * len(labels)
        windows: tuple[TieWindow, ...] = ()
        if d.get("randomized"):
            if d.get("mondrian"):
                windows = tuple(TieWindow.from_dict(d["tie_windows"][lab]) for lab in labels)
            else:
                windows = (TieWindow.from_dict(d["tie_window"]),)
        return cls(
            method=check_method(str(d["method"])),
            confidence_level=check_confidence_level(d["confidence_level"]),
            labels=labels,
            thresholds=th,
            n_calibration=int(d["n_calibration"]),
            randomized=bool(d.get("randomized", False)),
            mondrian=bool(d.get("mondrian", False)),
            lam=float(d.get("lam", RAPS_LAMBDA)),
            k_reg=int(d.get("k_reg", RAPS_K_REG)),
            n_per_label={str(k): int(v) for k, v in (d.get("n_per_label") or {}).items()},
            windows=windows,
        )

    def draws(self, n: int, rng: np.random.Generator | None) -> np.ndarray | None:
        """(n, 2) per-face uniform draws of a randomised rule: the score's ``u`` (APS/RAPS) and the tie-break
        ``v``; None for a non-randomised rule."""
        if not self.randomized:
            return None
        if rng is None:
            raise ValueError("randomised sets need a random generator")
        u = np.asarray(rng.uniform(size=n))
        return np.column_stack([u, np.asarray(rng.uniform(size=n))])

    def _proba(self, proba: np.ndarray) -> np.ndarray:
        p = _check_proba(proba)
        if p.shape[1] != len(self.labels):
            raise ValueError(f"expected probabilities over {len(self.labels)} labels, got {p.shape[1]}")
        return p

    def sets_at(self, proba: np.ndarray, thresholds: Any) -> np.ndarray:
        """(n, k) sets of this non-randomised rule at other thresholds (the procedure interval re-thresholds)."""
        if self.randomized:
            raise ValueError("a randomised rule's sets come from its tie windows; use sets()")
        return prediction_sets(self._proba(proba), thresholds, self.method, lam=self.lam, k_reg=self.k_reg)

    def label_scores(self, proba: np.ndarray, draws: np.ndarray | None = None) -> np.ndarray:
        """(n, k) scores of every label under this rule (randomised APS/RAPS: with the draws' ``u``)."""
        u = None if draws is None or self.method == "lac" else np.asarray(draws)[:, 0]
        return label_scores(self._proba(proba), self.method, u=u, lam=self.lam, k_reg=self.k_reg)

    def sets(self, proba: np.ndarray, draws: np.ndarray | None = None) -> np.ndarray:
        """(n, k) sets for faces with the given per-face draws (:meth:`draws`; None for a non-randomised rule)."""
        if not self.randomized:
            return self.sets_at(proba, self.thresholds)
        if draws is None:
            raise ValueError("randomised sets need the per-face draws")
        d = np.asarray(draws, dtype=np.float64)
        scores = self.label_scores(proba, d)
        v = d[:, 1:2]
        if not self.mondrian:
            return self.windows[0].contains(scores, v, self.confidence_level)
        return np.column_stack(
            [w.contains(scores[:, j], d[:, 1], self.confidence_level) for j, w in enumerate(self.windows)]
        )

    def predict_sets(self, proba: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, k) sets for new faces; a randomised rule needs ``rng`` for its per-face draws."""
        return self.sets(proba, self.draws(len(proba), rng))


def calibrate(
    proba: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    *,
    method: str = "lac",
    confidence_level: float = 0.9,
    randomized: bool = False,
    mondrian: bool = False,
    rng: np.random.Generator | None = None,
    lam: float = RAPS_LAMBDA,
    k_reg: int = RAPS_K_REG,
    name: str = "",
) -> ConformalCalibration:
    """Fit the threshold(s) of one set rule on a calibration split's probabilities and true labels.

    Refuses (:class:`ConformalError`) a level outside (0, 1), a split too small for the level (for a
    class-conditional rule: any label's share of it), and a split lacking one of ``labels`` (its faces would
    have no calibrated threshold, and its coverage no guarantee).
    """
    what = f"{name}: " if name else ""
    level = check_confidence_level(confidence_level)
    check_method(method)
    p = _check_proba(proba)
    labels = tuple(labels)
    if p.shape[1] != len(labels):
        raise ValueError(f"expected probabilities over {len(labels)} labels, got {p.shape[1]}")
    t = _check_y(y, len(p), p.shape[1])
    counts = np.bincount(t, minlength=len(labels)) if len(t) else np.zeros(len(labels), np.int64)
    missing = [lab for lab, c in zip(labels, counts, strict=True) if c == 0]
    if missing:
        raise ConformalError(
            f"{what}calibration split has no face labelled {', '.join(missing)}; sets for that label would "
            "have no calibrated threshold (use a calibration split that holds every evaluated label)"
        )
    u = None
    if randomized and method != "lac":
        if rng is None:
            raise ValueError("randomised calibration needs a random generator")
        u = rng.uniform(size=len(p))
    scores = conformity_scores(p, t, method, u=u, lam=lam, k_reg=k_reg)
    n_per = {lab: int(c) for lab, c in zip(labels, counts, strict=True)}
    if mondrian:
        th = tuple(
            conformal_quantile(scores[t == j], level, what=f"{what}label '{lab}'")
            for j, lab in enumerate(labels)
        )
        windows = (
            tuple(TieWindow.fit(scores[t == j], level) for j in range(len(labels))) if randomized else ()
        )
    else:
        th = (conformal_quantile(scores, level, what=name),) * len(labels)
        windows = (TieWindow.fit(scores, level),) if randomized else ()
    return ConformalCalibration(
        method, level, labels, th, len(t), randomized, mondrian, lam, k_reg, n_per, windows, scores, t
    )


PROCEDURE_RESAMPLES = 10_000  # the procedure interval's default (see procedure_interval: why more than 1,000)
_BLOCK = 500  # calibration resamples held at once: (block, calibration faces) counts, ~14 MB at 3,500 faces


def procedure_interval(
    cal: ConformalCalibration,
    covered_at: Any,
    n_test: int,
    *,
    true_scores: np.ndarray | None = None,
    true_labels: np.ndarray | None = None,
    tie_draws: np.ndarray | None = None,
    n_resamples: int | None = None,
    confidence: float | None = None,
    seed: int = 0,
    key: str = "conformal",
) -> dict[str, Any]:
    """Percentile interval of coverage over resamples of *both* the calibration and the evaluated faces.

    Why: coverage is random twice over, through the threshold (the calibration faces) and through the faces it
    is measured on. An interval over evaluated faces alone is too narrow to judge "is the coverage the nominal
    level?": with a few thousand faces on each side each part contributes about equally. Each resample
    redraws the calibration faces (within each label for a class-conditional rule), recomputes the threshold(s)
    with the same conformal quantile, and redraws the evaluated faces; ``covered_at(thresholds)`` gives the
    (n_test,) coverage indicators at given thresholds. A randomised rule's coverage depends only on each
    evaluated face's true-label score (``true_scores``), true label (``true_labels``, class-conditional rules)
    and tie draw (``tie_draws``), held fixed: it is recounted from each resample's score counts exactly, and
    ``covered_at`` is not used.

    Redrawing the evaluated faces needs no index matrix: given one calibration resample, the number of covered
    faces among ``n_test`` drawn with replacement is Binomial(``n_test``, share covered), the same distribution.

    Why 10,000 resamples by default, not the 1,000 of the other intervals: the question asked of this one is
    yes/no (is the level inside?), and a percentile bound's Monte Carlo error with 1,000 resamples is about
    0.06 points at a few thousand faces, as large as the distance of a real model's bound from 0.90.
    ``mc_error`` reports that error for the resamples used (half-width of a 95 % order-statistic band around
    each bound, the larger of the two).
    """
    from .bootstrap import DEFAULT_CONFIDENCE, percentile_interval, rng_for

    if cal.scores is None or cal.score_labels is None:
        raise ValueError("this calibration carries no calibration scores (fitted elsewhere)")
    b = PROCEDURE_RESAMPLES if n_resamples is None else n_resamples
    conf = DEFAULT_CONFIDENCE if confidence is None else confidence
    if n_test < 1:
        raise ValueError("no evaluated face to measure coverage on")
    rng = rng_for(seed, key + ":procedure")
    t = np.asarray(cal.score_labels)
    k = len(cal.labels)
    groups = [np.flatnonzero(t == j) for j in range(k)] if cal.mondrian else [np.arange(len(t))]
    if cal.randomized:
        covered = _smoothed_procedure(cal, groups, n_test, true_scores, true_labels, tie_draws, b, rng)
        how = "p-values recounted per resample"
    else:
        covered = _threshold_procedure(cal, groups, covered_at, n_test, b, rng)
        how = "threshold refitted per resample"
    cov = rng.binomial(n_test, np.clip(covered / n_test, 0.0, 1.0)) / n_test
    lo, hi, _ = percentile_interval(cov, conf)
    return {
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n_resamples": b,
        "confidence": conf,
        "mc_error": _bound_mc_error(cov, conf),
        "method": f"percentile bootstrap over calibration and evaluated faces, {how}",
    }


def _bound_mc_error(samples: np.ndarray, confidence: float) -> float:
    """Monte Carlo error of percentile bounds: half-width of the 95 % band of order statistics around each
    bound (the bound is the ``q``-quantile of B draws; the rank of the true quantile among them is
    Binomial(B, q)), the larger of the two bounds'."""
    s = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(s)
    out = 0.0
    for q in ((1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0):
        half = 1.96 * np.sqrt(n * q * (1.0 - q))
        lo = s[max(int(np.floor(n * q - half)), 0)]
        hi = s[min(int(np.ceil(n * q + half)), n - 1)]
        out = max(out, float(hi - lo) / 2.0)
    return out


def _blocks(b: int) -> list[slice]:
    """The resamples ``0..b`` in blocks of at most ``_BLOCK``, as slices of the (B,) results."""
    return [slice(start, min(start + _BLOCK, b)) for start in range(0, b, _BLOCK)]


def _threshold_procedure(
    cal: ConformalCalibration,
    groups: list[np.ndarray],
    covered_at: Any,
    n_test: int,
    b: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(B,) evaluated faces covered by a threshold rule refitted on each calibration resample (see above)."""
    from .bootstrap import compress, resample_weights

    assert cal.scores is not None
    scores = np.asarray(cal.scores)
    th = np.empty((b, len(cal.labels)))
    for j, idx in enumerate(groups):
        order = np.argsort(scores[idx], kind="stable")
        srt = scores[idx][order]
        rank = quantile_rank(len(srt), cal.confidence_level)
        # counts (block, n) of each calibration face in each resample, faces in increasing score order
        # (compress of the distinct ranks keeps that order); the rank-th smallest is where the running count
        # reaches rank
        ranks = np.empty(len(srt), dtype=np.int64)
        ranks[order] = np.arange(len(srt))
        pat = compress(ranks)
        for block in _blocks(b):
            counts = resample_weights(pat, block.stop - block.start, rng, method="index")
            q = srt[(np.cumsum(counts, axis=1) >= rank).argmax(axis=1)]
            if cal.mondrian:
                th[block, j] = q
            else:
                th[block] = q[:, None]
    cache: dict[tuple[float, ...], float] = {}
    covered = np.empty(b)
    for i in range(b):
        key_i = tuple(th[i])
        hit = cache.get(key_i)
        if hit is None:
            hit = cache[key_i] = float(np.asarray(covered_at(th[i]), dtype=np.float64).sum())
        covered[i] = hit
    return covered


def smoothed_covered_counts(
    values: np.ndarray, counts: np.ndarray, scores: np.ndarray, v: np.ndarray, confidence_level: float
) -> np.ndarray:
    """(B,) how many of the faces with true-label ``scores`` and tie draws ``v`` a randomised rule covers, for
    each of B calibration multisets given as ``counts`` (B, m) of the ascending distinct ``values``.

    Why not every face's p-value per resample (a (B, faces) matrix): a face whose score equals no calibration
    value is covered exactly when ``#{cal < s} ≤ K`` for an integer ``K`` set by its draw ``v`` (two values
    of ``K`` at most), and ``#{cal < s}`` grows with the face's position among the values. So per resample
    and ``K`` it is one count of positions, and the covered faces are those at or before it: a search among
    the faces' sorted positions. Only faces tied with a calibration value (an exact 0 probability, saturated
    outputs) are recounted one by one, as :func:`_smoothed_in` does.
    """
    vals = np.asarray(values, dtype=np.float64)
    cnt = np.asarray(counts, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    d = np.asarray(v, dtype=np.float64)
    m = len(vals)
    n = int(cnt[0].sum()) if len(cnt) else 0
    c = _position(confidence_level, n)
    cum = np.cumsum(cnt, axis=1)
    out = np.zeros(len(cnt), dtype=np.int64)
    pos = np.searchsorted(vals, s, side="left")
    tied = (pos < m) & (vals[np.minimum(pos, m - 1)] == s)
    if tied.any():
        r, e = _counts_at(vals, cum, cnt, s[tied])
        out += _smoothed_in(r, e, d[tied], c).sum(axis=1)
    free = ~tied
    # the largest integer r with r − v < c − 1 (the expression _smoothed_in evaluates, with no tie)
    k = np.floor(c - 1 + d[free]).astype(np.int64)
    k = np.where(k + 1 - d[free] < c - 1, k + 1, k)
    k = np.where(k - d[free] < c - 1, k, k - 1)
    p_free = pos[free]
    for kk in np.unique(k):
        if kk < 0:
            continue  # #{cal < s} ≥ 0 > K: never covered
        at = np.sort(p_free[k == kk])
        # a face at position p has #{cal < s} = cum[p − 1] (0 at p = 0): covered while that is ≤ K, i.e.
        # for p ≤ the number of leading values whose running count stays ≤ K
        last = (cum <= kk).sum(axis=1)
        out += np.searchsorted(at, last, side="right")
    return out


def _smoothed_procedure(
    cal: ConformalCalibration,
    groups: list[np.ndarray],
    n_test: int,
    true_scores: np.ndarray | None,
    true_labels: np.ndarray | None,
    tie_draws: np.ndarray | None,
    b: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(B,) evaluated faces a randomised rule covers on each calibration resample (see above)."""
    from .bootstrap import compress, resample_weights

    if true_scores is None or tie_draws is None or (cal.mondrian and true_labels is None):
        raise ValueError("a randomised rule's interval needs the true-label scores, labels and tie draws")
    ts = np.asarray(true_scores, dtype=np.float64)
    tv = np.asarray(tie_draws, dtype=np.float64)
    tl = np.asarray(true_labels) if cal.mondrian else np.zeros(n_test, dtype=np.int64)
    assert cal.scores is not None
    covered = np.zeros(b)
    for j, idx in enumerate(groups):
        # counts (block, m) of each distinct calibration score in each resample (compress keeps value order)
        vals, inv = np.unique(np.asarray(cal.scores)[idx], return_inverse=True)
        pat = compress(inv)
        sel = np.flatnonzero(tl == j)
        for block in _blocks(b):
            counts = resample_weights(pat, block.stop - block.start, rng, method="index")
            covered[block] += smoothed_covered_counts(vals, counts, ts[sel], tv[sel], cal.confidence_level)
    return covered


RESPLITS = 40  # random re-splits behind resplit_coverage's spread (the headline rule only: cheap, ~1 s a run)


def resplit_coverage(
    cal_proba: np.ndarray,
    cal_y: np.ndarray,
    eval_proba: np.ndarray,
    eval_y: np.ndarray,
    labels: Sequence[str],
    *,
    official: float,
    method: str = "lac",
    confidence_level: float = 0.9,
    randomized: bool = False,
    mondrian: bool = False,
    n_resplits: int = RESPLITS,
    seed: int = 0,
    key: str = "conformal",
) -> dict[str, Any]:
    """Coverage of the same rule when the pooled labelled faces are split at random, many times, into a
    calibration and an evaluated part of the given sizes.

    Why: a run has one calibration split (often the dataset's official one) and coverage on one split is one
    draw. When the interval misses the level, this separates "the rule is off" (random re-splits of the same
    faces miss too) from "this split differs" (they centre on the level, and the given split sits in their
    tail: official splits are not random, and may differ in label mix or faces). ``official`` is the coverage
    on the given split; ``share_at_or_below`` is the share of re-splits covering no more than it. Re-splits the
    rule refuses (a class-conditional rule with a label missing from the calibration part) are counted apart.
    """
    from .bootstrap import rng_for

    cp, ep = _check_proba(cal_proba), _check_proba(eval_proba)
    ct, et = _check_y(cal_y, len(cp), cp.shape[1]), _check_y(eval_y, len(ep), ep.shape[1])
    pool_p, pool_t = np.concatenate([cp, ep]), np.concatenate([ct, et])
    n_cal = len(ct)
    rng = rng_for(seed, key + ":resplits")
    covs: list[float] = []
    refused = 0
    for _ in range(n_resplits):
        perm = rng.permutation(len(pool_t))
        c_idx, e_idx = perm[:n_cal], perm[n_cal:]
        try:
            fit = calibrate(
                pool_p[c_idx],
                pool_t[c_idx],
                labels,
                method=method,
                confidence_level=confidence_level,
                randomized=randomized,
                mondrian=mondrian,
                rng=rng,
            )
        except ConformalError:
            refused += 1
            continue
        sets = fit.predict_sets(pool_p[e_idx], rng=rng)  # draws only for a randomised rule
        covs.append(float(sets[np.arange(len(e_idx)), pool_t[e_idx]].mean()))
    c = np.asarray(covs)
    some = len(c) > 0
    return {
        "n_resplits": len(c),
        "n_refused": refused,
        "mean": float(c.mean()) if some else None,
        "sd": float(c.std(ddof=1)) if len(c) > 1 else None,
        "min": float(c.min()) if some else None,
        "max": float(c.max()) if some else None,
        "official": float(official),
        "share_at_or_below": float((c <= official).mean()) if some else None,
        "sizes": {"calibration": n_cal, "evaluated": len(et)},
    }


def set_summary(
    sets: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    confidence_level: float,
    *,
    seed: int = 0,
    key: str = "conformal",
    n_resamples: int | None = None,
) -> dict[str, Any]:
    """Empirical coverage (with a bootstrap interval over faces) and set sizes of sets for labelled faces.

    ``within_test_interval``: the nominal level lies inside that interval (which holds the threshold fixed;
    see :func:`procedure_interval` for the one that does not). ``per_label``: coverage and
    mean size among the faces of each true label (marginal coverage can hide a label never covered).
    """
    from .bootstrap import DEFAULT_RESAMPLES
    from .humans import mean_estimate

    b = DEFAULT_RESAMPLES if n_resamples is None else n_resamples
    s = np.asarray(sets, dtype=bool)
    t = _check_y(y, len(s), s.shape[1])
    n = len(t)
    covered = s[np.arange(n), t].astype(np.float64)
    size = s.sum(axis=1)
    cov = mean_estimate(covered, n_resamples=b, seed=seed, key=key, reason="no scored face")
    per_label: dict[str, Any] = {}
    for j, lab in enumerate(labels):
        sel = t == j
        est = mean_estimate(covered[sel], n_resamples=b, seed=seed, key=f"{key}:{lab}", reason="no face")
        per_label[lab] = {
            "n": int(sel.sum()),
            "coverage": est.to_json(),
            "mean_size": float(size[sel].mean()) if sel.any() else None,
        }
    within = None
    if cov.ci_low is not None and cov.ci_high is not None:
        within = bool(cov.ci_low <= confidence_level <= cov.ci_high)
    return {
        "n": n,
        "coverage": cov.to_json(),
        "nominal": confidence_level,
        "within_test_interval": within,
        "mean_size": float(size.mean()) if n else None,
        "share_singleton": float((size == 1).mean()) if n else None,
        "share_empty": float((size == 0).mean()) if n else None,
        "size_counts": {str(k): int((size == k).sum()) for k in range(s.shape[1] + 1)},
        "per_label": per_label,
    }
