"""Figures for the calibration, selective-prediction and affect sections, drawn from ``metrics.json`` alone.

Each returns ``Markup`` SVG (text is model ids, labels and numbers, escaped by matplotlib's XML writer) or
``None`` when there is nothing to draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from markupsafe import Markup  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from .figures import _RC, _svg  # noqa: E402


def _rows(section: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    out = []
    for kind in ("models", "ensembles"):
        for name, row in (section.get(kind) or {}).items():
            out.append((kind, str(name), row))
    return out


def reliability_svg(cal: Mapping[str, Any] | None) -> Markup | None:
    """Reliability diagrams, one panel per model/ensemble: accuracy per confidence bin against the diagonal.

    Bars are all scored items; where temperature scaling was fitted, dots show the eval split after scaling.
    """
    rows = [r for r in _rows(cal or {}) if r[2].get("reliability")]
    if not rows:
        return None
    ncol = min(3, len(rows))
    nrow = math.ceil(len(rows) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 2.8 * nrow), squeeze=False)
    for ax in axes.flat[len(rows) :]:
        ax.axis("off")
    for ax, (kind, name, row) in zip(axes.flat, rows, strict=False):
        bins = row["reliability"]
        w = bins[0]["hi"] - bins[0]["lo"]
        xs = [b["lo"] + w / 2 for b in bins if b["n"]]
        acc = [b["accuracy"] for b in bins if b["n"]]
        ax.bar(xs, acc, width=w * 0.9, color="#4a6fa5" if kind == "models" else "#7a5195", alpha=0.8)
        ax.plot([0, 1], [0, 1], color="#888", lw=0.8, ls="--")
        t = row.get("temperature") or {}
        if t.get("status") == "fitted":
            after = [b for b in t["after"]["reliability"] if b["n"]]
            ax.plot(
                [b["confidence"] for b in after],
                [b["accuracy"] for b in after],
                "o",
                ms=3,
                color="#d45087",
                label=f"after T={t['temperature']:.2f} ({t['n_eval']} eval items)",
            )
            ax.legend(fontsize=6, loc="upper left")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{name}\nECE {row['ece']:.3f}", fontsize=8)
        ax.set_xlabel("confidence", fontsize=7)
        ax.set_ylabel("accuracy", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _svg(fig, "unc-rel", "Reliability diagrams: accuracy against confidence per bin")


def risk_coverage_svg(sel: Mapping[str, Any] | None, score: str = "confidence") -> Markup | None:
    """Risk–coverage curves for every model (solid) and ensemble (dashed), ranked by ``score``."""
    rows = [r for r in _rows(sel or {}) if r[2].get(score)]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(5.4, 3.6))
    for kind, name, row in rows:
        s = row[score]
        ax.step(
            s["curve"]["coverage"],
            s["curve"]["risk"],
            where="post",
            ls="-" if kind == "models" else "--",
            lw=1.2,
            label=f"{name} (AURC {s['aurc']:.3f})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("coverage (share of faces given a label)", fontsize=8)
    ax.set_ylabel("risk (error rate on labelled faces)", fontsize=8)
    ax.set_title(f"Risk–coverage, ranked by {score}", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left")
    return _svg(fig, f"unc-rc-{score}", f"Risk-coverage curves ranked by {score}")


def circumplex_svg(affect: Mapping[str, Any] | None) -> Markup | None:
    """The canonical labels' valence/arousal coordinates and each model's mean expected (valence, arousal)."""
    coords = (affect or {}).get("coordinates") or {}
    if not coords:
        return None
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.axhline(0, color="#bbb", lw=0.8)
    ax.axvline(0, color="#bbb", lw=0.8)
    ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="#ddd"))
    for lab, (v, a) in coords.items():
        ax.plot([v], [a], "s", color="#444", ms=4)
        ax.annotate(lab, (v, a), textcoords="offset points", xytext=(4, 4), fontsize=7)
    for name, row in ((affect or {}).get("models") or {}).items():
        if row.get("mean_valence") is not None:
            ax.plot([row["mean_valence"]], [row["mean_arousal"]], "o", ms=5, label=str(name))
    ax.set_xlim(-1.1, 1.1)
    ax.set_ylim(-1.1, 1.1)
    ax.set_xlabel("valence", fontsize=8)
    ax.set_ylabel("arousal", fontsize=8)
    ax.set_title("Label coordinates and mean expected valence/arousal", fontsize=8)
    ax.tick_params(labelsize=7)
    if (affect or {}).get("models"):
        ax.legend(fontsize=6, loc="lower right")
    return _svg(fig, "unc-va", "Label coordinates on the valence/arousal plane")


def uncertainty_figures(m: Mapping[str, Any]) -> dict[str, Markup | None]:
    """Every figure of the uncertainty partials, by name (absent sections give ``None``)."""
    with plt.rc_context(_RC):
        return _all(m)


def _all(m: Mapping[str, Any]) -> dict[str, Markup | None]:
    return {
        "reliability": reliability_svg(m.get("calibration")),
        "risk_coverage": risk_coverage_svg(m.get("selective"), "confidence"),
        "risk_coverage_agreement": risk_coverage_svg(m.get("selective"), "agreement"),
        "circumplex": circumplex_svg(m.get("affect")),
    }


def coverage_svg(conformal: Mapping[str, Any] | None, level: str, prefix: str) -> Markup | None:
    """Coverage of the headline rule's sets per model and ensemble: this split's (dot, 95 % interval) against the
    range of the random re-splits (grey band) and the nominal level (dashed), so a miss reads as the rule's or
    the split's at a glance."""
    sec = conformal or {}
    head = sec.get("headline")
    rules = ((sec.get("results") or {}).get(level) or {}).get(head) or {}
    rows = [(n, r) for _, n, r in _rows(rules) if r.get("status") == "ok"]
    if not rows:
        return None
    nominal = float(level)
    fig, ax = plt.subplots(figsize=(5.6, 0.9 + 0.3 * len(rows)))
    ys = list(range(len(rows)))[::-1]
    for y, (_, r) in zip(ys, rows, strict=True):
        s = r.get("resplits") or {}
        if s.get("min") is not None:
            ax.fill_betweenx([y - 0.28, y + 0.28], s["min"], s["max"], color="#ddd", lw=0)
        p = r["coverage_procedure"]
        colour = "#1f3b63" if r["within_interval"] else "#b03a2e"
        ax.plot([p["ci_low"], p["ci_high"]], [y, y], color=colour, lw=2)
        ax.plot([r["coverage"]["value"]], [y], "o", color=colour, ms=5)
    ax.axvline(nominal, color="#555", lw=0.9, ls="--")
    ax.set_yticks(ys, [n for n, _ in rows], fontsize=7)
    ax.set_xlabel(
        "coverage: this split (dot, 95 % interval; red: level outside) and random re-splits (grey: range)",
        fontsize=7,
    )
    ax.set_title(f"{100 * nominal:g} % sets ({head}): coverage against the level", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    return _svg(fig, prefix, f"Coverage of {100 * nominal:g} percent prediction sets per model")


def conformal_figures(m: Mapping[str, Any]) -> dict[str, Any]:
    """The conformal section's figures: ``coverage`` per level."""
    sec = m.get("conformal") or {}
    if sec.get("status") != "ok":
        return {}
    with plt.rc_context(_RC):
        return {
            "coverage": {
                level: coverage_svg(sec, level, f"conf-cov{i}")
                for i, level in enumerate(sec.get("results") or {})
            }
        }
