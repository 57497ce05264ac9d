"""Metrics per group of samples (gender, age band, pose… any metadata column), with bootstrap intervals.

Accuracy and macro-F1 per group and overall are computed from the distinct (label, prediction) pairs, the same
arithmetic every bootstrap resample uses (the tests check them against Fairlearn's
:class:`~fairlearn.metrics.MetricFrame` and scikit-learn, which take seconds per model at a million items);
the gap is Fairlearn's ``between_groups`` difference and ratio over the groups large enough to rank (the
tests check both against MetricFrame); its interval is that of the signed difference (and ratio) between
the two groups the point estimate ranks highest and lowest, so an interval that reaches below zero means the
data do not clearly order them. Intervals come from the project's one percentile bootstrap
(:mod:`ferbench.metrics.bootstrap`), resampling samples *within* each group (so every replicate keeps the group
sizes, and groups are independent), each (model, group) from its own keyed stream: all replicates of a
statistic are computed at once from per-pattern weights, instead of re-running MetricFrame per replicate
(Fairlearn's own ``n_boot`` does that and takes seconds per metric). Each interval comes with
``n_undefined``, the resamples where the statistic was undefined.

Groups with fewer than ``min_size`` scored samples are reported, flagged ``small``, and left out of the
gap (they are not ranked): an accuracy on 12 faces says little.

Failed samples (unreadable, no face…) are left out of a model's accuracy and macro-F1 and counted in its
failure rate; Fleiss' kappa uses the items every model scored, as in the ``agreement`` section.

With ``confidence`` (each model's top restricted probability), the abstention rate is the share of a group's
scored faces on which the model would decline at the commit threshold ``abstain_below`` (the same rule as the
abstaining ensembles and ``ferbench predict --abstain-below``): a model that is unsure more often on one group
serves that group worse even where its committed labels are as accurate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FerbenchError
from .agreement import count_statistics, fleiss_kappa, rating_counts
from .bootstrap import compress, interval, pattern_weights

MISSING_GROUP = "(missing)"
DEFAULT_MIN_SIZE = 30
DEFAULT_N_BOOT = 1000
DEFAULT_ABSTAIN_BELOW = 0.5
MAX_GROUPS = 200  # more distinct values than this is an id-like column, not a grouping


class GroupColumnError(FerbenchError):
    """A ``--groups`` column is not in the sample table."""


def parse_groups(spec: str | Sequence[str] | None) -> list[list[str]]:
    """``gender,race`` → two groupings; ``gender+race`` → one intersectional grouping of both columns."""
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str) else list(spec)
    out: list[list[str]] = []
    for item in items:
        for part in item.split(","):
            cols = [c.strip() for c in part.split("+") if c.strip()]
            if cols and cols not in out:
                out.append(cols)
    return out


def check_group_columns(samples: pd.DataFrame, groupings: Sequence[Sequence[str]]) -> None:
    """Raise a one-line error naming a missing (or id-like) column and the columns the sample table has."""
    for cols in groupings:
        for c in cols:
            if c in samples.columns:
                n = samples[c].nunique(dropna=True)
                if n > MAX_GROUPS:
                    raise GroupColumnError(
                        f"--groups: column '{c}' has {n} distinct values (more than {MAX_GROUPS}); group by a "
                        "column with a few categories, e.g. an age band rather than an age"
                    )
                continue
            avail = ", ".join(str(x) for x in samples.columns if x not in ("path", "stamp"))
            hint = " (add --estimate-attributes for est_* columns)" if c.startswith("est_") else ""
            raise GroupColumnError(
                f"--groups: the sample table has no column '{c}'{hint}; available columns: {avail}"
            )


def group_keys(samples: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    """One string key per sample (``a | b`` for several columns); empty values become ``(missing)``."""
    parts = []
    for c in cols:
        s = samples[c].astype("string").str.strip()
        parts.append(s.mask(s.isna() | (s == ""), MISSING_GROUP).fillna(MISSING_GROUP).to_numpy(dtype=object))
    if len(parts) == 1:
        return parts[0]
    return np.array([" | ".join(map(str, t)) for t in zip(*parts, strict=True)], dtype=object)


def weighted_macro_f1(codes: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Macro-F1 per resample over the labels that occur in that resample's ``y_true``.

    ``codes`` (U,) are the distinct ``y_true * k + y_pred`` pairs of the items and ``weights`` (B, U) how often
    each is drawn per resample (:func:`~ferbench.metrics.bootstrap.pattern_weights`), so the B confusion
    matrices are one matrix product. The same as scikit-learn's ``f1_score(labels=<labels present in
    y_true>, average="macro")``: a group is not marked down for lacking a class (a small age group with no
    ``disgust`` image), while a wrong prediction still costs its true class a false negative.
    """
    w = np.asarray(weights, dtype=np.float64)
    b = w.shape[0]
    if w.shape[1] == 0:
        return np.full(b, np.nan)
    onehot = np.zeros((len(codes), k * k))
    onehot[np.arange(len(codes)), np.asarray(codes, dtype=np.int64)] = 1.0
    cm = (w @ onehot).reshape(b, k, k)
    tp = np.einsum("bii->bi", cm)
    denom = cm.sum(axis=2) + cm.sum(axis=1)  # (tp + fn) + (tp + fp)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = cm.sum(axis=2) > 0
    return (f1 * present).sum(axis=1) / present.sum(axis=1)


def _shares(column: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Per resample, the weighted share of items whose pattern has ``column`` set."""
    if n == 0:
        return np.full(weights.shape[0], np.nan)
    return (np.asarray(weights, dtype=np.float64) @ column.astype(np.float64)) / n


def _scored_replicates(
    yt: np.ndarray, yp: np.ndarray, declines: np.ndarray, k: int, n_boot: int, seed: int, key: str
) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and abstention rate per resample of one group's scored items (one stream)."""
    n = len(yt)
    if n == 0:
        nan = np.full(n_boot, np.nan)
        return {"accuracy": nan, "macro_f1": nan, "abstention_rate": nan}
    pat, w = pattern_weights(np.stack([yt, yp, declines], axis=1).astype(np.int64), n_boot, seed, key)
    return _pattern_stats(pat.rows, w, n, k)


def _pattern_stats(rows: np.ndarray, w: np.ndarray, n: int, k: int) -> dict[str, np.ndarray]:
    """The group statistics from (label, prediction, declined) pattern rows and per-resample weights; with
    the patterns' own frequencies as the single "resample" this is the point estimate."""
    return {
        "accuracy": _shares(rows[:, 0] == rows[:, 1], w, n),
        "macro_f1": weighted_macro_f1(rows[:, 0] * k + rows[:, 1], w, k),
        "abstention_rate": _shares(rows[:, 2] == 1, w, n),
    }


def point_stats(yt: np.ndarray, yp: np.ndarray, k: int) -> tuple[float | None, float | None]:
    """Accuracy and macro-F1 (over the labels present in ``yt``) of one set of scored items: the point
    estimates, computed the way every resample is (the tests check them against Fairlearn's MetricFrame and
    scikit-learn, which take seconds per model at a million items)."""
    if len(yt) == 0:
        return None, None
    pat = compress(np.stack([yt, yp, np.zeros_like(yt)], axis=1).astype(np.int64))
    st = _pattern_stats(pat.rows, pat.freq[None, :], len(yt), k)
    return float(st["accuracy"][0]), float(st["macro_f1"][0])


def _num(x: Any) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _gap(
    values: Mapping[str, float], boots: Mapping[str, np.ndarray], eligible: Sequence[str], level: float
) -> dict[str, Any]:
    """Largest minus smallest (and smallest over largest) over eligible groups, with bootstrap intervals."""
    ok = [g for g in eligible if values.get(g) is not None and np.isfinite(values[g])]
    if len(ok) < 2:
        return {
            "difference": None,
            "ratio": None,
            "reason": "fewer than two groups large enough to compare",
        }
    v = np.array([values[g] for g in ok])
    hi_g, lo_g = ok[int(np.argmax(v))], ok[int(np.argmin(v))]
    # The interval is for the difference between the two groups the point estimate ranks highest and lowest,
    # bootstrapped as a signed difference. (Re-taking max - min in each replicate would be biased upwards:
    # it is never negative, and its interval can miss a near-zero point estimate altogether.)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = boots[hi_g] - boots[lo_g]
        r = boots[lo_g] / boots[hi_g]
    vmax, vmin = float(v.max()), float(v.min())
    return {
        "difference": {"value": vmax - vmin, **interval(d, level)},
        "ratio": {"value": vmin / vmax if vmax > 0 else None, **interval(r, level)},
        "highest_group": hi_g,
        "lowest_group": lo_g,
        "groups_compared": ok,
    }


def group_metrics(
    y_true: np.ndarray,
    pred: np.ndarray,
    keys: np.ndarray,
    model_ids: Sequence[str],
    n_labels: int,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = 0.95,
    seed: int = 0,
    confidence: np.ndarray | None = None,
    abstain_below: float = DEFAULT_ABSTAIN_BELOW,
    key: str = "groups",
) -> dict[str, Any]:
    """Per group and model: n, accuracy, macro-F1, failure rate, abstention rate, and Fleiss' kappa.

    ``y_true`` (n,) label indices; ``pred`` (n, models) label indices with ``-1`` for a failed sample;
    ``keys`` (n,) group keys; ``confidence`` (n, models) top probabilities (optional: without it there is no
    abstention rate). Returns a JSON-ready dict (see ``docs/fairness.md``).

    Each (model, group) draws its resamples from its own stream ``(seed, key:model:group)``
    (:func:`~ferbench.metrics.bootstrap.pattern_weights`), so adding a model, a group or a statistic never
    moves another's interval; memory is per distinct (label, prediction, declined) triple, not per item.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    keys = np.asarray(keys, dtype=object)
    groups = sorted(pd.unique(keys).tolist(), key=str)
    members = {g: np.flatnonzero(keys == g) for g in groups}
    models: dict[str, Any] = {}
    for j, mid in enumerate(model_ids):
        ok = pred[:, j] >= 0
        by_group: dict[str, Any] = {}
        names = ["accuracy", "macro_f1", "failure_rate"] + (
            ["abstention_rate"] if confidence is not None else []
        )
        boots: dict[str, dict[str, np.ndarray]] = {name: {} for name in names}
        values: dict[str, dict[str, float]] = {name: {} for name in names}
        eligible = []
        for g in groups:
            rows = members[g]
            scored = rows[ok[rows]]
            n_ok = len(scored)
            small = n_ok < min_size
            if not small:
                eligible.append(g)
            declines = (
                confidence[scored, j] < abstain_below
                if confidence is not None
                else np.zeros(n_ok, dtype=bool)
            )
            reps = _scored_replicates(
                y_true[scored], pred[scored, j], declines, n_labels, n_boot, seed, f"{key}:{mid}:{g}:scored"
            )
            fpat, fw = pattern_weights((~ok[rows]).astype(np.int64), n_boot, seed, f"{key}:{mid}:{g}:all")
            fail_b = _shares(fpat.rows[:, 0] == 1, fw, len(rows))
            acc, f1 = point_stats(y_true[scored], pred[scored, j], n_labels)
            fr = float(np.mean(~ok[rows]))
            stats = [
                ("accuracy", acc, reps["accuracy"]),
                ("macro_f1", f1, reps["macro_f1"]),
                ("failure_rate", fr, fail_b),
            ]
            if confidence is not None:
                ab = float(declines.mean()) if n_ok else None
                stats.append(("abstention_rate", ab, reps["abstention_rate"]))
            entry: dict[str, Any] = {"n": int(len(rows)), "n_scored": n_ok, "small": small}
            for name, val, bt in stats:  # a value is None only where the model scored none of the group
                boots[name][g] = bt
                if val is not None:
                    values[name][g] = val
                ci = interval(bt, level) if val is not None else interval(None)
                entry[name] = {"value": val, **ci}
            by_group[str(g)] = entry
        overall_acc, overall_f1 = point_stats(y_true[ok], pred[ok, j], n_labels)
        summary: dict[str, Any] = {
            "accuracy": _num(overall_acc),
            "macro_f1": _num(overall_f1),
            "failure_rate": float(np.mean(~ok)) if len(ok) else None,
        }
        if confidence is not None:
            summary["abstention_rate"] = (
                float(np.mean(confidence[ok, j] < abstain_below)) if ok.any() else None
            )
        models[mid] = {
            "overall": summary,
            "by_group": by_group,
            "gap": {name: _gap(values[name], boots[name], eligible, level) for name in values},
        }

    agreement = _group_agreement(
        pred, keys, groups, members, n_labels, min_size, n_boot, level, seed, f"{key}:agreement"
    )
    return {
        "min_size": min_size,
        "n_boot": n_boot,
        **({"abstain_below": abstain_below} if confidence is not None else {}),
        "ci_level": level,
        "groups": [
            {"group": str(g), "n": int(len(members[g])), "small": bool(len(members[g]) < min_size)}
            for g in groups
        ],
        "models": models,
        "agreement": agreement,
    }


def _group_agreement(
    pred: np.ndarray,
    keys: np.ndarray,
    groups: list[Any],
    members: Mapping[Any, np.ndarray],
    n_labels: int,
    min_size: int,
    n_boot: int,
    level: float,
    seed: int,
    key: str,
) -> dict[str, Any]:
    """Fleiss' kappa among the models within each group, over items every model scored."""
    if pred.shape[1] < 2:
        return {"by_group": {}, "gap": None, "reason": "agreement needs at least two models"}
    by_group: dict[str, Any] = {}
    values: dict[str, float] = {}
    boots: dict[str, np.ndarray] = {}
    eligible = []
    for g in groups:
        rows = members[g]
        r = pred[rows]
        r = r[np.all(r >= 0, axis=1)]
        counts = rating_counts(r, n_labels)
        value = fleiss_kappa(counts) if len(r) else None
        if len(r):
            pat, w = pattern_weights(counts, n_boot, seed, f"{key}:{g}")
            bt = count_statistics(pat.rows, w)["fleiss_kappa"]
        else:
            bt = np.full(n_boot, np.nan)
        boots[str(g)] = bt
        small = len(r) < min_size
        if value is not None:
            values[str(g)] = value
        if not small:
            eligible.append(str(g))
        by_group[str(g)] = {
            "n_items": int(len(r)),
            "small": small,
            "fleiss_kappa": {"value": value, **interval(bt, level)},
        }
    return {"by_group": by_group, "gap": _gap(values, boots, eligible, level)}
