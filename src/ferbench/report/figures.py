"""Figures for the report, drawn with matplotlib and returned as inline SVG text.

Inline SVG must be safe to drop into one HTML page several times over, so every figure is post-processed:
text stays text (``svg.fonttype = none``, escaped by matplotlib's XML writer; mathtext parsing is off so a ``$``
in a name is just a character), comments, metadata and the global ``<style>`` are removed, element ids are
made unique per figure (two figures would otherwise both define ``patch_1`` and clip paths), and the output is
deterministic (fixed hash salt, no date) so re-rendering the same run gives the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from markupsafe import Markup, escape

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_RC: Any = {
    "svg.fonttype": "none",
    "svg.hashsalt": "ferbench",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "axes.spines.top": False,
    "axes.spines.right": False,
}

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_STYLE = re.compile(r"<style[^>]*>.*?</style>\s*", re.S)
_ID = re.compile(r'\sid="([^"]*)"')
_REF = re.compile(r'(url\(#|href="#)([^")]+)')


def scope_svg(svg: str, prefix: str, label: str | None = None) -> str:
    """Make an SVG fragment safe to inline next to others: strip comments/metadata, scope its ids.

    ``label`` (escaped here) becomes the figure's accessible name for screen readers.
    """
    svg = svg[svg.index("<svg") :]
    if label is not None:
        svg = svg.replace("<svg", f'<svg role="img" aria-label="{escape(label)}"', 1)
    svg = _METADATA.sub("", _COMMENT.sub("", _STYLE.sub("", svg)))
    referenced = {m.group(2) for m in _REF.finditer(svg)}

    def rename_id(m: re.Match[str]) -> str:
        return f' id="{prefix}-{m.group(1)}"' if m.group(1) in referenced else ""

    svg = _ID.sub(rename_id, svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    return svg.strip()


def _svg(fig: plt.Figure, prefix: str, label: str) -> Markup:
    """The figure as inline SVG, marked safe for the template: matplotlib's XML writer escaped its text."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": _RC["svg.hashsalt"]}):  # stable ids whoever drew the figure
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return Markup(scope_svg(buf.getvalue(), prefix, label))


def _text_colour(value: float, cmap: matplotlib.colors.Colormap, lo: float, hi: float) -> str:
    r, g, b, _ = cmap((value - lo) / (hi - lo) if hi > lo else 0.0)
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "#1b1b1b"


def _square_grid(ax: Any, names: Sequence[str], fontsize: int) -> None:
    """Square cells, first row at the top, the names on both axes, no ticks or left/bottom frame."""
    n = len(names)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=fontsize)
    ax.set_yticks(range(n), names, fontsize=fontsize)
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)


def confusion_svg(
    confusion: Sequence[Sequence[int]], labels: Sequence[str], title: str, prefix: str = "cm"
) -> Markup:
    """Row-normalised confusion matrix (rows: dataset label, columns: model's label) with counts in cells.

    Colour shows the share of each dataset label's samples (so rare classes are as visible as common ones);
    the number is the raw count.
    """
    cm = np.asarray(confusion, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(labels)
    cmap = plt.get_cmap("Blues")
    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(1.6 + 0.42 * n, 1.3 + 0.4 * n))
        ax.pcolormesh(
            np.arange(n + 1) - 0.5,
            np.arange(n + 1) - 0.5,
            norm,
            cmap=cmap,
            vmin=0,
            vmax=1,
            edgecolors="white",
            linewidth=0.8,
        )
        _square_grid(ax, labels, fontsize=8)
        ax.set_xlabel("model's label", fontsize=8)
        ax.set_ylabel("dataset label", fontsize=8)
        ax.set_title(title, fontsize=9)
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{int(cm[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=_text_colour(norm[i, j], cmap, 0, 1),
                )
        return _svg(fig, prefix, f"confusion matrix of {title}: dataset label by model's label")


def kappa_heatmap_svg(matrix: Mapping[str, Mapping[str, float | None]], prefix: str = "kappa") -> Markup:
    """Pairwise Cohen's kappa between models, on a diverging scale centred at zero (chance agreement)."""
    ids = list(matrix)
    n = len(ids)
    k = np.array(
        [[np.nan if matrix[a].get(b) is None else matrix[a][b] for b in ids] for a in ids], dtype=float
    )
    cmap = plt.get_cmap("RdBu")
    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(2.4 + 0.55 * n, 1.6 + 0.5 * n))
        mesh = ax.pcolormesh(
            np.arange(n + 1) - 0.5,
            np.arange(n + 1) - 0.5,
            np.ma.masked_invalid(k),
            cmap=cmap,
            vmin=-1,
            vmax=1,
            edgecolors="white",
            linewidth=0.8,
        )
        _square_grid(ax, ids, fontsize=7)
        for i in range(n):
            for j in range(n):
                if np.isfinite(k[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{k[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color=_text_colour(k[i, j], cmap, -1, 1),
                    )
        cb = fig.colorbar(mesh, ax=ax, fraction=0.046, pad=0.04)
        cb.set_label("Cohen's kappa (0 = chance)", fontsize=7)
        cb.ax.tick_params(labelsize=7)
        return _svg(fig, prefix, "pairwise Cohen's kappa between models")


# Landis & Koch (1977) descriptive bands for kappa. They are a convention, not a test: a guide to wording.
KAPPA_BANDS: tuple[tuple[float, float, str, str], ...] = (
    (-1.0, 0.0, "poor", "#d73027"),
    (0.0, 0.2, "slight", "#fc8d59"),
    (0.2, 0.4, "fair", "#fee08b"),
    (0.4, 0.6, "moderate", "#d9ef8b"),
    (0.6, 0.8, "substantial", "#91cf60"),
    (0.8, 1.0, "almost perfect", "#1a9850"),
)


def kappa_band(value: float | None) -> str | None:
    """The Landis & Koch word for a kappa value (upper bounds inclusive: 0.20 is 'slight')."""
    if value is None or not np.isfinite(value):
        return None
    if value < 0:
        return "poor"
    for lo, hi, name, _ in KAPPA_BANDS[1:]:
        if lo <= value <= hi:
            return name
    return KAPPA_BANDS[-1][2]


def kappa_scale_svg(value: float | None, reference: float | None = 0.2) -> Markup:
    """A horizontal 0..1 scale coloured by the Landis & Koch bands with a marker at ``value``.

    Hand-written SVG (numbers and fixed words only, nothing from the dataset). Values below zero are pinned to
    the left edge, where the 'poor' band starts. ``reference`` marks the roughly 0.2 that a 2024 study found
    across nine open-source models, so a reader can place this run against it.
    """
    w, h, x0, x1 = 560, 92, 20, 540
    lo = -0.2

    def x(v: float) -> float:
        return x0 + (min(max(v, lo), 1.0) - lo) / (1.0 - lo) * (x1 - x0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'role="img" aria-label="Fleiss kappa on the Landis and Koch scale" class="kscale">'
    ]
    for b_lo, b_hi, name, colour in KAPPA_BANDS:
        a, b = x(max(b_lo, lo)), x(b_hi)
        parts.append(f'<rect x="{a:.1f}" y="26" width="{b - a:.1f}" height="16" fill="{colour}"/>')
        parts.append(
            f'<text x="{(a + b) / 2:.1f}" y="56" font-size="10" text-anchor="middle" fill="#444">{name}</text>'
        )
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(
            f'<text x="{x(t):.1f}" y="70" font-size="9" text-anchor="middle" fill="#777">{t:.1f}</text>'
        )
    if reference is not None:
        rx = x(reference)
        parts.append(
            f'<line x1="{rx:.1f}" x2="{rx:.1f}" y1="22" y2="78" stroke="#555" stroke-dasharray="2 2"/>'
        )
        parts.append(
            f'<text x="{rx + 4:.1f}" y="88" font-size="9" fill="#555">a 2024 study of nine models: about 0.2</text>'
        )
    if value is not None and np.isfinite(value):
        vx = x(float(value))
        parts.append(f'<path d="M {vx - 7:.1f} 8 L {vx + 7:.1f} 8 L {vx:.1f} 23 Z" fill="#111"/>')
        parts.append(f'<line x1="{vx:.1f}" x2="{vx:.1f}" y1="23" y2="45" stroke="#111" stroke-width="2"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
