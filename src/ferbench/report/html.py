"""Render ``report.html`` from a run's metrics and per-item predictions.

Everything is inlined (CSS, figures as SVG, sample thumbnails as ``data:`` PNGs) and the page has no script,
so the file opens offline and fetches nothing. All dataset-derived strings pass through Jinja2's
autoescaping and the template uses no ``|safe``; the only pre-escaped values are the ``Markup`` SVG strings
from :mod:`ferbench.report.figures` (matplotlib's XML writer escapes their text, which is model ids and
canonical labels, never file names).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from .context import MAX_DISAGREEMENT_ROWS, MAX_FAILURE_ROWS, _thumbnail, build_context
from .figures import KAPPA_BANDS, confusion_svg, kappa_heatmap_svg, kappa_scale_svg
from .figures_agreement import section_figures
from .figures_people import people_figures
from .figures_robustness import section_figures as robustness_figures
from .figures_uncertainty import uncertainty_figures

if TYPE_CHECKING:
    from ..api import RunResult


def _pct(x: Any, d: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{d}f}%"


def _num(x: Any, d: int = 3) -> str:
    return "–" if x is None else f"{x:.{d}f}"


def _width(x: Any) -> str:
    """A CSS percentage for an inline bar, clamped to 0..100 (numbers only, never text)."""
    if x is None:
        return "0%"
    return f"{max(0.0, min(1.0, float(x))) * 100:.1f}%"


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("ferbench", "report/templates"),
        autoescape=select_autoescape(["j2", "html"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    env.filters["width"] = _width
    return env


# Extra report sections after the skeleton's, in order: (metrics.json key, partial template under
# ``templates/sections/``). A partial renders only when its key is in metrics.json; it sees ``m`` (the
# metrics document), ``section`` (m[key]) and ``figures``. Each is wrapped in ``<section id="section-KEY">``
# and listed in the report's contents.
SECTION_TEMPLATES: list[tuple[str, str]] = [
    ("agreement", "agreement_detail.html.j2"),
    ("agreement_levels", "agreement_levels.html.j2"),
    ("disagreement", "disagreement.html.j2"),
    ("affect", "affect.html.j2"),
    ("calibration", "calibration.html.j2"),
    ("selective", "selective.html.j2"),
    ("ensembles", "ensembles.html.j2"),
    ("conformal", "conformal.html.j2"),
    ("fairness", "fairness.html.j2"),
    ("robustness", "robustness.html.j2"),
    ("faces", "faces.html.j2"),
    ("video", "video.html.j2"),
]

# Sections rendered first, before the models table: people as the yardstick is what a reader should see first
# whenever the dataset has annotator votes.
LEAD_SECTIONS: list[tuple[str, str]] = [("humans", "humans.html.j2")]

# Contents-bar names where the key alone would read badly or clash with the skeleton's own entries.
SECTION_TITLES: dict[str, str] = {
    "agreement": "Agreement detail",
    "agreement_levels": "Coarser levels",
    "disagreement": "Swapped labels",
    "humans": "People vs models",
    "affect": "Valence & arousal",
    "faces": "Face stage",
    "conformal": "Prediction sets",
}


def _figures(m: Mapping[str, Any]) -> dict[str, Any]:
    models = m.get("models") or {}
    agreement = m.get("agreement") or {}
    fk = (agreement.get("fleiss_kappa") or {}).get("value")
    cohen = agreement.get("cohen_kappa") or {}
    return {
        "confusion": {
            mid: confusion_svg(sec["confusion"], sec["labels"], str(mid), prefix=f"cm{i}")
            for i, (mid, sec) in enumerate(models.items())
            if sec.get("confusion") and sec.get("labels")
        },
        "kappa": kappa_heatmap_svg(cohen, prefix="kappa") if len(cohen) > 1 else None,
        "kappa_scale": kappa_scale_svg(fk) if fk is not None else None,
        # figures for the agreement partials (levels, disagreement, humans), drawn from the metrics alone
        "agreement_sections": section_figures(m),
        # figures for the fairness and robustness partials, drawn from the metrics alone
        "fairness_robustness": robustness_figures(m),
        # figures for the calibration, selective and affect partials
        "uncertainty": uncertainty_figures(m),
        # the people-vs-models section's figures
        "people": people_figures(m),
    }


def _people_thumbnails(m: Mapping[str, Any]) -> dict[str, str | None]:
    """Thumbnails of the example faces in the people-vs-models 2×2, by sample id."""
    cells = ((((m.get("humans") or {}).get("people") or {}).get("entropy") or {}).get("cells")) or {}
    return {
        ex["sample_id"]: _thumbnail(ex["path"]) if ex.get("path") else None
        for cell in cells.values()
        for ex in cell.get("examples") or []
    }


def render_html(
    metrics: Mapping[str, Any],
    predictions: pd.DataFrame | None = None,
    *,
    cards: Mapping[str, Any] | None = None,
    thumbnails: bool = True,
) -> str:
    """The report for a metrics document and (optionally) the run's ``predictions.parquet`` table.

    Without ``predictions`` the per-sample failure and disagreement tables are left out; every other
    section comes from ``metrics`` alone, and absent or ``None`` values render as a dash or a note.
    """
    m = dict(metrics)
    ctx = build_context(m, predictions, thumbnails=thumbnails)
    sections = [(key, f"sections/{tpl}") for key, tpl in SECTION_TEMPLATES if key in m]
    lead = [(key, f"sections/{tpl}") for key, tpl in LEAD_SECTIONS if key in m]
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            m=m,
            ctx=ctx,
            figures=_figures(m),
            cards=dict(cards or {}),
            sections=sections,
            lead_sections=lead,
            people_thumbs=_people_thumbnails(m) if thumbnails else {},
            section_titles=SECTION_TITLES,
            bands=KAPPA_BANDS,
            max_failures=MAX_FAILURE_ROWS,
            max_disagreements=MAX_DISAGREEMENT_ROWS,
        )
    )


def render_report(result: RunResult) -> str:
    """The report for a finished :func:`ferbench.api.run` (reads the ``predictions.parquet`` it wrote)."""
    preds = pd.read_parquet(result.predictions_path) if result.predictions_path.exists() else None
    return render_html(result.metrics, preds, cards={c.id: c for c in result.cards})


def write_report(result: RunResult) -> None:
    from ..atomic import write_text_atomic

    write_text_atomic(render_report(result), result.report_path)


def render_run_dir(run_dir: str | Path, thumbnails: bool = True) -> str:
    """Re-render a run directory's report from its ``metrics.json`` and ``predictions.parquet`` alone."""
    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    pq = run_dir / "predictions.parquet"
    preds = pd.read_parquet(pq) if pq.exists() else None
    return render_html(metrics, preds, thumbnails=thumbnails)


__all__ = [
    "LEAD_SECTIONS",
    "SECTION_TEMPLATES",
    "render_html",
    "render_report",
    "render_run_dir",
    "write_report",
]
