"""Figures for the agreement sections, drawn from ``metrics.json`` alone and returned as inline SVG markup.

Each function takes the metrics document and returns ``Markup`` (already-safe SVG whose only text is labels,
model ids and numbers, escaped by matplotlib's XML writer) or ``None`` when its section has nothing to draw.
:func:`section_figures` builds them all for the report's ``figures.sections``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from markupsafe import Markup  # noqa: E402

from .figures import _RC  # noqa: E402
from .figures import _svg as shared_svg  # noqa: E402

Row = tuple[str, float | None, float | None, float | None]


def _svg(fig: plt.Figure, prefix: str) -> Markup:
    """Inline SVG through the report's one SVG writer (no date metadata, ids scoped by ``prefix``)."""
    return shared_svg(fig, prefix, prefix.replace("-", " "))


def forest_svg(
    rows: Sequence[Row], title: str, xlabel: str, prefix: str, reference: float | None = None
) -> Markup:
    """Point estimates with interval bars, one row per item; rows without a value are listed as 'undefined'."""
    n = len(rows)
    fig, ax = plt.subplots(figsize=(5.2, 0.8 + 0.32 * n))
    ys = np.arange(n)[::-1]
    for y, (_, v, lo, hi) in zip(ys, rows, strict=True):
        if v is None:
            ax.text(0.0, y, "undefined", va="center", fontsize=7, color="#a33")
            continue
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [y, y], color="#4a6fa5", lw=2)
        ax.plot([v], [y], "o", color="#1f3b63", ms=5)
    if reference is not None:
        ax.axvline(reference, color="#888", lw=0.8, ls="--")
    ax.axvline(0, color="#bbb", lw=0.8)
    ax.set_yticks(ys, [r[0] for r in rows], fontsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    vals = [x for r in rows for x in r[1:] if x is not None]
    lo_lim = min([0.0, *vals]) - 0.05
    ax.set_xlim(lo_lim, max([1.0, *vals]) + 0.02)
    return _svg(fig, prefix)


def _row(name: str, e: Mapping[str, Any] | None) -> Row:
    e = e or {}
    return (name, e.get("value"), e.get("ci_low"), e.get("ci_high"))


def per_class_kappa_svg(m: Mapping[str, Any]) -> Markup | None:
    per = (m.get("agreement") or {}).get("fleiss_kappa_per_class") or {}
    if not per:
        return None
    rows = [_row("all labels", m["agreement"].get("fleiss_kappa"))] + [_row(k, v) for k, v in per.items()]
    return forest_svg(rows, "Fleiss' kappa among models, per label (95% CI)", "kappa", "agr-pc")


def levels_svg(m: Mapping[str, Any]) -> Markup | None:
    levels = (m.get("agreement_levels") or {}).get("levels") or {}
    if not levels:
        return None
    rows = [
        _row(f"fine ({len(m.get('labels') or [])} labels)", (m.get("agreement") or {}).get("fleiss_kappa"))
    ]
    rows += [
        _row(f"{k.replace('_', ' ')} ({len(v['classes'])})", v.get("fleiss_kappa")) for k, v in levels.items()
    ]
    return forest_svg(rows, "Agreement as the question gets coarser", "Fleiss' kappa among models", "agr-lv")


def by_label_svg(m: Mapping[str, Any]) -> Markup | None:
    by = (m.get("disagreement") or {}).get("by_label") or {}
    if not by:
        return None
    rows = [_row(f"{k} (n={v['n_items']})", v.get("share_all_agree")) for k, v in by.items()]
    return forest_svg(rows, "Share of faces all models label alike, by dataset label", "share", "agr-bl")


def pair_confusion_svg(m: Mapping[str, Any]) -> Markup | None:
    d = m.get("disagreement") or {}
    conf = d.get("pair_confusion")
    labels = d.get("labels")
    if not conf or not labels:
        return None
    c = np.asarray(conf, dtype=float)
    off = c.copy()
    np.fill_diagonal(off, 0)
    share = off / off.sum() if off.sum() > 0 else off
    fig, ax = plt.subplots(figsize=(4.4, 3.9))
    im = ax.imshow(share, cmap="Oranges", vmin=0)
    k = len(labels)
    ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("label given by another model", fontsize=8)
    ax.set_ylabel("label given by one model", fontsize=8)
    ax.set_title("Where models disagree (share of disagreements)", fontsize=9)
    for i in range(k):
        for j in range(k):
            if i != j and off[i, j] > 0:
                ax.text(j, i, f"{int(off[i, j])}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _svg(fig, "agr-pcm")


def humans_svg(m: Mapping[str, Any]) -> Markup | None:
    h = m.get("humans") or {}
    models = h.get("models") or {}
    if not models:
        return None
    rows = [_row("annotator vs annotator", (h.get("humans") or {}).get("percent_agreement"))]
    rows += [_row(f"{mid} vs annotators", v.get("soft_accuracy")) for mid, v in models.items()]
    return forest_svg(
        rows, "How often a rater agrees with one annotator (95% CI)", "share of agreeing pairs", "agr-hu"
    )


SECTION_FIGURES: dict[str, Callable[[Mapping[str, Any]], Markup | None]] = {
    "agreement_per_class": per_class_kappa_svg,
    "agreement_levels": levels_svg,
    "pair_confusion": pair_confusion_svg,
    "by_label": by_label_svg,
    "humans": humans_svg,
}


def section_figures(m: Mapping[str, Any]) -> dict[str, Markup | None]:
    """Every agreement figure for a metrics document, by name (absent sections give ``None``)."""
    with plt.rc_context(_RC):  # text stays text, no mathtext: the report's figure settings
        return {name: fn(m) for name, fn in SECTION_FIGURES.items()}
