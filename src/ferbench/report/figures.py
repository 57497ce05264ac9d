"""Figures for the report, drawn with matplotlib and returned as inline SVG text."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def confusion_svg(confusion: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> str:
    """Row-normalised confusion matrix (rows: dataset label, columns: model's label) with counts in cells."""
    cm = np.asarray(confusion, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted expression label", fontsize=8)
    ax.set_ylabel("dataset label", fontsize=8)
    ax.set_title(title, fontsize=9)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if norm[i, j] > 0.6 else "black",
            )
    return _svg(fig)


def kappa_heatmap_svg(matrix: Mapping[str, Mapping[str, float | None]]) -> str:
    """Pairwise Cohen's kappa between models, on a diverging scale centred at zero (chance agreement)."""
    ids = list(matrix)
    k = np.array([[np.nan if matrix[a][b] is None else matrix[a][b] for b in ids] for a in ids], dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(ids), 1.0 + 0.6 * len(ids)))
    im = ax.imshow(k, cmap="RdBu", vmin=-1, vmax=1)
    ax.set_xticks(range(len(ids)), ids, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(ids)), ids, fontsize=7)
    for i in range(len(ids)):
        for j in range(len(ids)):
            if np.isfinite(k[i, j]):
                ax.text(j, i, f"{k[i, j]:.2f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, fraction=0.046, label="Cohen's kappa")
    return _svg(fig)
