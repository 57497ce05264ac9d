"""From stored predictions to the ``metrics.json`` document: a pure function of the store and the sample table.

Label rules (see :mod:`ferbench.labels`; this module is their one implementation): *restricted*, the default
every section uses, restricts each model's probabilities to the dataset's evaluated labels that the model
has, renormalises and arg-maxes them; the mass that fell outside the evaluated set is reported as
``dropped_mass`` and missing classes as ``missing_labels``. *open* takes the model's own arg-max over all its
classes (a label outside the evaluated set counts as wrong); each model's section gives accuracy and
macro-F1 under both (``by_label_rule``), and every section that picks labels records ``label_rule``.
Samples a model could not score (unreadable image…) are counted per model as ``n_failed`` (by status in
``failures``; a prediction with no mass on any evaluated label has status ``no_label_mass``) and left out of
that model's metrics; agreement statistics use the items every compared model scored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from .labels import CANONICAL_LABELS, DEFAULT_LABEL_RULE, LABEL_INDEX, LABEL_RULES, OPEN, RESTRICTED
from .metrics.agreement_summary import empty_block, ratings_block
from .metrics.bootstrap import DEFAULT_RESAMPLES
from .metrics.classification import classification_summary
from .models.cards import ModelCard

PROB_PREFIX = "p_"
#: The status of a scored prediction that puts zero probability on every evaluated label (a model that
#: only ever says angry/fear on a neutral-vs-happy video, or a head whose scores on them are all 0): there is
#: no label to pick, so it is counted under this name, apart from read/detection failures, and never scored.
NO_LABEL_MASS = "no_label_mass"


@dataclass
class EvaluatedPredictions:
    """Predictions restricted to the evaluated labels: one column per model of label indices (``-1``: failed)."""

    sample_ids: np.ndarray
    y_true: np.ndarray  # indices into labels
    labels: tuple[str, ...]
    model_ids: list[str]
    pred: np.ndarray  # (n_samples, n_models) indices into labels, -1 where the model failed
    proba: np.ndarray  # (n_samples, n_models, n_labels) restricted, renormalised
    dropped_mass: np.ndarray  # (n_samples, n_models)
    status: np.ndarray  # (n_samples, n_models) status strings
    # (n_samples, n_models) the open rule's pick: indices into CANONICAL_LABELS, -1 where the model failed
    pred_open: np.ndarray | None = None

    def predicted_names(self, j: int, rule: str = DEFAULT_LABEL_RULE) -> np.ndarray:
        """Model ``j``'s predicted label names under ``rule`` (object array; None where it failed)."""
        if rule == RESTRICTED:
            idx, names = self.pred[:, j], np.array(self.labels, dtype=object)
        elif rule == OPEN:
            assert self.pred_open is not None
            idx, names = self.pred_open[:, j], np.array(CANONICAL_LABELS, dtype=object)
        else:
            raise ValueError(f"unknown label rule {rule!r}; use one of {', '.join(LABEL_RULES)}")
        out = np.full(len(idx), None, dtype=object)
        out[idx >= 0] = names[idx[idx >= 0]]
        return out


def restrict(
    predictions: pd.DataFrame,
    samples: pd.DataFrame,
    model_ids: Sequence[str],
    labels: Sequence[str],
    variant: str | Mapping[str, str] = "clean",
) -> EvaluatedPredictions:
    """Align stored rows with the sample table and apply the label-set rule.

    ``variant`` may map model ids to variants, for models whose rows under two protocols are the same
    computation (a model with no face preparation of its own sees the same crop with or without
    ``--shared-crop``), so they are read, not recomputed.
    """
    labels = tuple(labels)
    lab_idx = {lab: i for i, lab in enumerate(labels)}
    cols = [PROB_PREFIX + lab for lab in labels]
    n, m = len(samples), len(model_ids)
    pred = np.full((n, m), -1, dtype=np.int64)
    pred_open = np.full((n, m), -1, dtype=np.int64)
    all_cols = [PROB_PREFIX + lab for lab in CANONICAL_LABELS]
    proba = np.full((n, m, len(labels)), np.nan)
    dropped = np.full((n, m), np.nan)
    status = np.full((n, m), "missing", dtype=object)
    base = samples[["sample_id", "stamp"]].reset_index(drop=True)
    for j, mid in enumerate(model_ids):
        v = variant if isinstance(variant, str) else variant[mid]
        rows = predictions[(predictions["model_id"] == mid) & (predictions["variant"] == v)]
        merged = base.merge(rows, on=["sample_id", "stamp"], how="left", validate="one_to_one")
        status[:, j] = merged["status"].fillna("missing").to_numpy()
        raw = merged[cols].to_numpy(dtype=np.float64)
        full = merged[[c for c in merged.columns if c.startswith(PROB_PREFIX)]].to_numpy(dtype=np.float64)
        ok = status[:, j] == "ok"
        kept = np.nan_to_num(raw, nan=0.0)
        total = kept.sum(axis=1)
        good = ok & (total > 0)
        status[ok & ~good, j] = NO_LABEL_MASS
        proba[good, j] = kept[good] / total[good, None]
        pred[good, j] = proba[good, j].argmax(axis=1)
        dropped[good, j] = 1.0 - total[good] / np.nansum(full[good], axis=1)
        # open rule: the model's own arg-max over every class it has (NaN: classes it lacks)
        every = merged.reindex(columns=all_cols).to_numpy(dtype=np.float64)
        has = ok & ~np.isnan(every).all(axis=1)
        pred_open[has, j] = np.where(np.isnan(every[has]), -np.inf, every[has]).argmax(axis=1)
    y_true = samples["label"].map(lab_idx).to_numpy()
    return EvaluatedPredictions(
        samples["sample_id"].to_numpy(),
        y_true,
        labels,
        list(model_ids),
        pred,
        proba,
        dropped,
        status,
        pred_open,
    )


def open_rule_summary(ev: EvaluatedPredictions, j: int) -> dict[str, Any]:
    """Accuracy and macro-F1 of model ``j`` under the open rule, over the samples it scored.

    Macro-F1 averages over the evaluated labels; a prediction outside them is a miss for its sample's class
    and a false positive for no evaluated class. ``n_outside_labels`` counts such predictions.
    """
    names = ev.predicted_names(j, OPEN)
    ok = ev.pred_open[:, j] >= 0 if ev.pred_open is not None else np.zeros(len(names), bool)
    if not ok.any():
        return {"accuracy": None, "macro_f1": None, "n_outside_labels": 0}
    y = np.array(ev.labels, dtype=object)[ev.y_true[ok]]
    yp = names[ok]
    return {
        "accuracy": float(np.mean(yp == y)),
        "macro_f1": float(f1_score(y, yp, labels=list(ev.labels), average="macro", zero_division=0)),
        "n_outside_labels": int(sum(p not in ev.labels for p in yp)),
    }


def _model_section(ev: EvaluatedPredictions, j: int, card: ModelCard) -> dict[str, Any]:
    ok = ev.pred[:, j] >= 0
    labels = list(ev.labels)
    summary: dict[str, Any]
    if ok.any():
        names = np.array(labels, dtype=object)
        summary = classification_summary(names[ev.y_true[ok]], names[ev.pred[ok, j]], labels=labels)
    else:
        summary = {
            "n": 0,
            "accuracy": None,
            "balanced_accuracy": None,
            "macro_f1": None,
            "per_class": {},
            "confusion": [],
            "labels": labels,
        }
    failures = pd.Series(ev.status[~ok, j]).value_counts().to_dict()
    summary.update(
        {
            "n_failed": int((~ok).sum()),
            "failures": {str(k): int(v) for k, v in failures.items()},
            "missing_labels": [lab for lab in labels if lab not in card.canonical_classes],
            "extra_labels": [c for c in card.canonical_classes if c not in labels],
            "mean_dropped_mass": float(np.nanmean(ev.dropped_mass[ok, j])) if ok.any() else None,
            "verified": card.verified,
            "calibrated_scores": card.calibrated_scores,
            "label_rule": DEFAULT_LABEL_RULE,
            "by_label_rule": {
                RESTRICTED: {"accuracy": summary["accuracy"], "macro_f1": summary["macro_f1"]},
                OPEN: open_rule_summary(ev, j),
            },
        }
    )
    return summary


def _none_if_nan(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def agreement_section(
    ev: EvaluatedPredictions,
    seed: int = 0,
    *,
    label_sets: Mapping[str, set[str]] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, Any]:
    """Agreement among the models over the items all of them scored, with bootstrap intervals over items.

    Keeps the skeleton's keys and meanings (``fleiss_kappa.value``, ``cohen_kappa``, ``percent_agreement``)
    and adds intervals and further statistics (see :mod:`ferbench.metrics.agreement_summary`). ``label_sets``
    (model id → evaluated labels it can give) makes Cohen's kappa null for two models that share none.
    Intervals are seeded from ``seed``, so the section is reproducible bit for bit.
    """
    m = len(ev.model_ids)
    both = np.all(ev.pred >= 0, axis=1)
    if m < 2:
        return empty_block("agreement needs at least two models", ev.labels, int(both.sum()), seed=seed)
    if not both.any():
        return empty_block("no item was scored by every model", ev.labels, seed=seed)
    return ratings_block(
        ev.pred, ev.labels, ev.model_ids, seed=seed, n_resamples=n_resamples, label_sets=label_sets
    )


@dataclass
class EvalContext:
    """Everything a metrics section may use. Sections are pure functions of this."""

    ev: EvaluatedPredictions
    cards: Sequence[ModelCard]
    samples: pd.DataFrame
    predictions: pd.DataFrame
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)


# Sections whose statistics pick one label per model and item (from ``EvaluatedPredictions.pred``): each
# records the label rule it used. All use the restricted rule today; one that did not would set its own.
# ``ensembles`` is a map of named ensembles, so each of them records it.
LABEL_PICKING_SECTIONS = frozenset(
    {
        "agreement_levels",
        "fairness",
        "robustness",
        "disagreement",
        "calibration",
        "selective",
        "humans",
        "video",
    }
)
LABEL_PICKING_MAPS = frozenset({"ensembles"})


def _record_label_rule(key: str, section: dict[str, Any]) -> None:
    if key in LABEL_PICKING_SECTIONS:
        section.setdefault("label_rule", DEFAULT_LABEL_RULE)
    elif key in LABEL_PICKING_MAPS:
        for entry in section.values():
            if isinstance(entry, dict):
                entry.setdefault("label_rule", DEFAULT_LABEL_RULE)


# Extra ``metrics.json`` sections, in order: (key, builder). A builder returns a JSON-ready dict, or None to
# leave its key out (e.g. no vote matrix in this dataset). Later capabilities register here; the skeleton's
# ``models`` and ``agreement`` keys are never changed in meaning, only extended.
SECTIONS: list[tuple[str, Callable[[EvalContext], dict[str, Any] | None]]] = []


def register_section(key: str) -> Callable[[Callable[[EvalContext], Any]], Callable[[EvalContext], Any]]:
    def deco(fn: Callable[[EvalContext], Any]) -> Callable[[EvalContext], Any]:
        SECTIONS.append((key, fn))
        return fn

    return deco


def evaluate(
    predictions: pd.DataFrame,
    samples: pd.DataFrame,
    cards: Sequence[ModelCard],
    labels: Sequence[str],
    *,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    variant: str = "clean",
) -> tuple[dict[str, Any], EvaluatedPredictions]:
    """Compute the ``models`` and ``agreement`` sections of ``metrics.json``, then every registered section."""
    for lab in labels:
        if lab not in LABEL_INDEX:
            raise ValueError(f"not a canonical label: {lab}")
    ids = [c.id for c in cards]
    ev = restrict(predictions, samples, ids, labels, variant)
    out: dict[str, Any] = {
        "models": {c.id: _model_section(ev, j, c) for j, c in enumerate(cards)},
        "agreement": agreement_section(
            ev, seed, label_sets={c.id: set(c.canonical_classes) & set(labels) for c in cards}
        ),
    }
    out["agreement"]["label_rule"] = DEFAULT_LABEL_RULE
    ctx = EvalContext(ev, cards, samples, predictions, seed, dict(options or {}))
    from . import analysis  # noqa: F401  (registers the extra sections)

    for key, builder in SECTIONS:
        section = builder(ctx)
        if section is not None:
            if isinstance(section, dict):
                _record_label_rule(key, section)
            out[key] = section
    return out, ev
