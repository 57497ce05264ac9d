"""Figures for the "People vs models" section, drawn from ``metrics.json``'s ``humans.people`` block alone.

Each returns inline SVG ``Markup`` (text is labels, model ids and numbers, escaped by matplotlib's XML
writer) or ``None`` when there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from markupsafe import Markup  # noqa: E402

from .figures import _RC  # noqa: E402
from .figures import _svg as shared_svg  # noqa: E402

PEOPLE = "#c2571a"
MODELS = "#1f3b63"


def _people(m: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((m.get("humans") or {}).get("people")) or {}


def _ci(ax: Any, y: float, e: Mapping[str, Any], colour: str, marker: str = "o") -> None:
    if e.get("value") is None:
        return
    if e.get("ci_low") is not None:
        ax.plot([e["ci_low"], e["ci_high"]], [y, y], color=colour, lw=2)
    ax.plot([e["value"]], [y], marker, color=colour, ms=6)


def kappas_svg(m: Mapping[str, Any]) -> Markup | None:
    """People's and models' Fleiss' kappa side by side, at each level."""
    levels = (_people(m).get("kappa") or {}).get("levels") or {}
    if not levels:
        return None
    names = {
        "fine": "all labels",
        "polarity": "valence polarity",
        "emotional_vs_neutral": "emotional vs neutral",
    }
    fig, ax = plt.subplots(figsize=(5.4, 0.9 + 0.55 * len(levels)))
    ys = np.arange(len(levels))[::-1]
    for y, lv in zip(ys, levels.values(), strict=True):
        _ci(ax, y + 0.12, lv["humans"], PEOPLE)
        _ci(ax, y - 0.12, lv["models"], MODELS, "s")
    ax.set_yticks(ys, [names.get(k, k) for k in levels], fontsize=8)
    ax.plot([], [], "o", color=PEOPLE, label="annotators")
    ax.plot([], [], "s", color=MODELS, label="models")
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Fleiss' kappa on the same faces (95% CI)", fontsize=8)
    ax.set_title("How much people agree vs how much models agree", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    return shared_svg(fig, "ppl-kappa", "people and model kappas")


def human_level_svg(m: Mapping[str, Any]) -> Markup | None:
    """Each model's plurality score with the human-level score as a band."""
    hl = _people(m).get("human_level") or {}
    models = hl.get("models") or {}
    h = hl.get("humans") or {}
    if not models or h.get("value") is None:
        return None
    order = sorted(models, key=lambda k: models[k]["score"].get("value") or 0.0)
    fig, ax = plt.subplots(figsize=(5.4, 0.9 + 0.3 * len(order)))
    if h.get("ci_low") is not None:
        ax.axvspan(h["ci_low"], h["ci_high"], color=PEOPLE, alpha=0.18, lw=0)
    ax.axvline(h["value"], color=PEOPLE, lw=1.2)
    ax.text(
        h["value"], len(order) - 0.4, " one annotator vs the others", color=PEOPLE, fontsize=7, va="bottom"
    )
    for y, mid in enumerate(order):
        _ci(ax, y, models[mid]["score"], MODELS)
    ax.set_yticks(range(len(order)), order, fontsize=7)
    ax.set_ylim(-0.6, len(order) + 0.2)
    ax.set_xlim(0, 1)
    ax.set_xlabel("agreement with the plurality of the annotators' votes (95% CI)", fontsize=8)
    ax.set_title("Models against the human level", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    return shared_svg(fig, "ppl-hl", "human level")


def confidence_svg(m: Mapping[str, Any]) -> Markup | None:
    """Reliability view: each model's mean confidence against the mean share of annotators who agree."""
    models = (_people(m).get("confidence") or {}).get("models") or {}
    if not models:
        return None
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    ax.plot([0, 1], [0, 1], color="#bbb", lw=0.8, ls="--")
    cmap = plt.get_cmap("tab10")
    for i, (mid, r) in enumerate(models.items()):
        pts = [(b["confidence"], b["accuracy"]) for b in r.get("bins") or [] if b["n"] >= 5]
        if pts:
            x, y = zip(*pts, strict=True)
            ax.plot(x, y, "-o", ms=2.5, lw=1, color=cmap(i % 10), label=mid)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("model confidence (bin mean)", fontsize=8)
    ax.set_ylabel("share of annotators who chose the model's label", fontsize=8)
    ax.set_title("Confidence against people (bins with 5+ faces)", fontsize=9)
    ax.legend(fontsize=6, frameon=False, loc="upper left")
    ax.tick_params(labelsize=7)
    return shared_svg(fig, "ppl-conf", "confidence against people")


def people_figures(m: Mapping[str, Any]) -> dict[str, Markup | None]:
    if not _people(m):
        return {}
    with plt.rc_context(_RC):
        return {"kappas": kappas_svg(m), "human_level": human_level_svg(m), "confidence": confidence_svg(m)}
