"""Render ``report.html`` from a run's metrics and evaluated predictions.

Everything is inlined (CSS, figures as SVG) so the file opens offline. All dataset-derived strings pass
through Jinja2's autoescaping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

if TYPE_CHECKING:
    from ..api import RunResult


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("ferbench", "report/templates"), autoescape=select_autoescape(["j2"])
    )
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.1f}%"
    env.filters["num"] = lambda x, d=3: "–" if x is None else f"{x:.{d}f}"
    return env


# Extra report sections after the skeleton's, in order: (metrics.json key, partial template under
# ``templates/sections/``). A partial renders only when its key is in metrics.json; it sees ``m`` (the
# metrics document), ``section`` (m[key]) and ``figures``.
SECTION_TEMPLATES: list[tuple[str, str]] = [
    ("faces", "faces.html.j2"),
    ("video", "video.html.j2"),
]


def render_report(result: RunResult) -> str:
    from .figures import confusion_svg, kappa_heatmap_svg

    m = result.metrics
    figures: dict[str, Any] = {
        "confusion": {
            mid: confusion_svg(sec["confusion"], sec["labels"], mid)
            for mid, sec in m["models"].items()
            if sec.get("confusion")
        },
        "kappa": kappa_heatmap_svg(m["agreement"]["cohen_kappa"])
        if m["agreement"].get("cohen_kappa")
        else None,
    }
    cards = {c.id: c for c in result.cards}
    sections = [(key, f"sections/{tpl}") for key, tpl in SECTION_TEMPLATES if key in m]
    return _env().get_template("report.html.j2").render(m=m, figures=figures, cards=cards, sections=sections)


def write_report(result: RunResult) -> None:
    from ..api import write_text_atomic

    write_text_atomic(render_report(result), result.report_path)
