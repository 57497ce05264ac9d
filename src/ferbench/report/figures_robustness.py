"""Figures for the ``robustness`` and ``fairness`` report sections, from ``metrics.json`` alone.

* accuracy against severity, one small panel per perturbation, one line per model (and the ensemble), with
  the clean accuracy as severity 0;
* per-group accuracy with bootstrap-interval bars, one panel per grouping, small groups drawn hollow.

Each returns :class:`markupsafe.Markup` via :func:`ferbench.report.figures._svg` (text escaped by
matplotlib's XML writer, ids scoped), or ``None`` when there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from markupsafe import Markup

from .figures import _RC, _svg

ENSEMBLE = "ensemble (mean probability)"


def accuracy_vs_severity_svg(section: Mapping[str, Any], prefix: str = "rob") -> Markup | None:
    """Small multiples: accuracy (y) against severity (x, 0 = clean) per perturbation, a line per model."""
    perts = section.get("perturbations") or {}
    if not perts:
        return None
    names = list(perts)
    ncol = min(4, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    with matplotlib.rc_context(_RC):
        fig, axes = plt.subplots(
            nrow, ncol, figsize=(2.6 * ncol, 2.1 * nrow + 0.5), sharey=True, squeeze=False
        )
        handles: dict[str, Any] = {}
        for ax, name in zip(axes.ravel(), names, strict=False):
            sev = sorted(perts[name]["severities"], key=lambda s: s["severity"])
            series: dict[str, tuple[list[float], list[float]]] = {}
            for s in sev:
                entries = dict(s.get("models") or {})
                if s.get("ensemble"):
                    entries[ENSEMBLE] = s["ensemble"]
                for mid, st in entries.items():
                    if not st.get("n"):
                        continue
                    xs, ys = series.setdefault(mid, ([0.0], [st["accuracy_clean"]]))
                    xs.append(float(s["severity"]))
                    ys.append(st["accuracy"])
            for mid, (xs, ys) in series.items():
                style = {"color": "#222", "ls": "--", "lw": 1.6} if mid == ENSEMBLE else {"lw": 1.2}
                (line,) = ax.plot(xs, ys, marker="o", ms=3, **style)
                handles.setdefault(mid, line)
            ax.set_title(name, fontsize=9)
            ax.set_xticks(range(0, 6))
            ax.tick_params(labelsize=7)
            ax.set_xlim(-0.3, 5.3)
            ax.grid(alpha=0.3, lw=0.5)
        for ax in axes.ravel()[len(names) :]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy", fontsize=8)
        for ax in axes[-1, :]:
            ax.set_xlabel("severity (0 = clean)", fontsize=8)
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="lower center",
            ncol=min(4, len(handles)),
            fontsize=7,
            frameon=False,
            bbox_to_anchor=(0.5, -0.02 - 0.03 * (len(handles) // 4)),
        )
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        return _svg(fig, prefix, "accuracy against perturbation severity, one panel per perturbation")


def group_accuracy_svg(grouping: Mapping[str, Any], name: str, prefix: str = "grp") -> Markup | None:
    """Accuracy per group (rows) for every model (offset markers), with interval bars; small groups hollow."""
    models = grouping.get("models") or {}
    groups = [g["group"] for g in grouping.get("groups") or []]
    if not models or not groups:
        return None
    mids = list(models)
    n, m = len(groups), len(mids)
    with matplotlib.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(5.6, 0.9 + 0.34 * n * max(1, m) ** 0.5))
        cmap = plt.get_cmap("tab10")
        ys = np.arange(n)[::-1].astype(float)
        off = (np.arange(m) - (m - 1) / 2) * (0.7 / max(m, 1))
        for j, mid in enumerate(mids):
            bg = models[mid].get("by_group") or {}
            for y, g in zip(ys, groups, strict=True):
                st = bg.get(g)
                if not st or st["accuracy"]["value"] is None:
                    continue
                v = st["accuracy"]["value"]
                lo, hi = st["accuracy"]["ci"]
                yy = y + off[j]
                if lo is not None and hi is not None:
                    ax.plot([lo, hi], [yy, yy], color=cmap(j % 10), lw=1.4)
                ax.plot(
                    [v],
                    [yy],
                    "o",
                    ms=4.5,
                    color=cmap(j % 10),
                    mfc="white" if st.get("small") else cmap(j % 10),
                    label=mid if y == ys[0] else None,
                )
        ax.set_yticks(ys, [str(g) for g in groups], fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("accuracy (95% bootstrap interval; hollow = group below minimum size)", fontsize=8)
        ax.set_title(f"accuracy by {name}", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3, lw=0.5)
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=min(3, m))
        return _svg(fig, prefix, f"accuracy by {name} per model with bootstrap intervals")


def section_figures(m: Mapping[str, Any]) -> dict[str, Any]:
    """The figures both partials use, keyed ``robustness`` and ``fairness`` (a dict per grouping)."""
    out: dict[str, Any] = {}
    rob = m.get("robustness")
    if rob:
        out["robustness"] = accuracy_vs_severity_svg(rob)
    fair = (m.get("fairness") or {}).get("groupings") or {}
    out["fairness"] = {
        name: group_accuracy_svg(g, name, prefix=f"grp{i}") for i, (name, g) in enumerate(fair.items())
    }
    return out
