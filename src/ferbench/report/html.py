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
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from ..atomic import write_text_atomic
from ..sections import Section, report_sections
from .context import MAX_DISAGREEMENT_ROWS, MAX_FAILURE_ROWS, _thumbnail, build_context
from .figures import KAPPA_BANDS, confusion_svg, kappa_heatmap_svg, kappa_scale_svg

if TYPE_CHECKING:
    from ..models.cards import ModelCard


class RunLike(Protocol):
    """What the report needs of a finished run (:class:`ferbench.api.RunResult` is one)."""

    metrics: dict[str, Any]
    cards: list[ModelCard]

    @property
    def predictions_path(self) -> Path: ...

    @property
    def report_path(self) -> Path: ...


def _pct(x: Any, d: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{d}f}%"


def _num(x: Any, d: int = 3) -> str:
    return "–" if x is None else f"{x:.{d}f}"


def _count(x: Any) -> str:
    """A whole count with thousands separators (3,435 faces), as the docs write them."""
    return "–" if x is None else f"{int(x):,}"


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
    env.filters["count"] = _count
    return env


def _section_figures(m: Mapping[str, Any], sections: list[Section]) -> dict[str, Any]:
    """Each rendered section's figures (its ``figures`` function, called once even when sections share it)."""
    import importlib

    done: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for s in sections:
        if s.figures is None:
            continue
        if s.figures not in done:
            module, _, name = s.figures.partition(":")
            done[s.figures] = getattr(importlib.import_module(module), name)(m)
        out[s.key] = done[s.figures]
    return out


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
    shown = [s for s in report_sections() if s.key in m]
    sections = [(s.key, f"sections/{s.template}", s.title) for s in shown if not s.lead]
    lead = [(s.key, f"sections/{s.template}", s.title) for s in shown if s.lead]
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            m=m,
            ctx=ctx,
            figures=_figures(m),
            section_figures=_section_figures(m, shown),
            cards=dict(cards or {}),
            sections=sections,
            lead_sections=lead,
            people_thumbs=_people_thumbnails(m) if thumbnails else {},
            bands=KAPPA_BANDS,
            max_failures=MAX_FAILURE_ROWS,
            max_disagreements=MAX_DISAGREEMENT_ROWS,
        )
    )


def render_report(result: RunLike) -> str:
    """The report for a finished :func:`ferbench.api.run` (reads the ``predictions.parquet`` it wrote)."""
    preds = pd.read_parquet(result.predictions_path) if result.predictions_path.exists() else None
    return render_html(result.metrics, preds, cards={c.id: c for c in result.cards})


def write_report(result: RunLike) -> None:
    write_text_atomic(render_report(result), result.report_path)


def render_run_dir(run_dir: str | Path, thumbnails: bool = True) -> str:
    """Re-render a run directory's report from its ``metrics.json`` and ``predictions.parquet`` alone."""
    from .. import analysis  # noqa: F401  (registers every section: a fresh process has none yet)

    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    pq = run_dir / "predictions.parquet"
    preds = pd.read_parquet(pq) if pq.exists() else None
    return render_html(metrics, preds, thumbnails=thumbnails)


__all__ = ["render_html", "render_report", "render_run_dir", "write_report"]
