"""Per-model classification metrics over the evaluated label set, via scikit-learn.

Metrics are pure functions of label arrays; they never read files or know about models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def _check(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true, dtype=object)
    yp = np.asarray(y_pred, dtype=object)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(yt)} vs {len(yp)}")
    if len(yt) == 0:
        raise ValueError("no samples to score")
    unknown = (set(yt) | set(yp)) - set(labels)
    if unknown:
        raise ValueError(f"labels outside the evaluated set {list(labels)}: {sorted(map(str, unknown))}")
    return yt, yp


def classification_summary(
    y_true: Sequence[str], y_pred: Sequence[str], *, labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    ``labels`` fixes the row/column order of the confusion matrix (rows: true label, columns: prediction)
    and the classes macro averages run over, including classes a model never predicts (F1 of 0 there).
    """
    yt, yp = _check(y_true, y_pred, labels)
    labels = list(labels)
    prec, rec, f1, support = precision_recall_fscore_support(yt, yp, labels=labels, zero_division=0)
    return {
        "n": int(len(yt)),
        "accuracy": float(accuracy_score(yt, yp)),
        "balanced_accuracy": float(balanced_accuracy_score(yt, yp)) if len(set(yt)) > 0 else None,
        "macro_f1": float(f1_score(yt, yp, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            lab: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for lab, p, r, f, s in zip(labels, prec, rec, f1, support, strict=True)
        },
        "confusion": confusion_matrix(yt, yp, labels=labels).tolist(),
        "labels": labels,
    }
