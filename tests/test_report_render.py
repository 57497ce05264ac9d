"""The report renders from partial or degenerate metrics, keeps its partial-template API, and says true things."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
from _report_data import hostile_run  # noqa: F401  (hostile_run is a fixture)
from jinja2 import ChoiceLoader, DictLoader, Environment
from markupsafe import escape

import ferbench.report.html as report_html
from ferbench.api import RunResult
from ferbench.errors import SampleError
from ferbench.report import render_html, render_run_dir
from ferbench.report.context import MAX_FAILURE_ROWS, _short_message, failure_rows
from ferbench.report.figures import confusion_svg, kappa_band, kappa_heatmap_svg

TEMPLATES = Path(report_html.__file__).parent / "templates"


def _metrics(result: RunResult) -> dict:
    return json.loads(result.metrics_path.read_text())


def test_rerender_from_run_dir_is_identical(hostile_run: RunResult) -> None:  # noqa: F811
    """The report is a deterministic function of metrics.json and predictions.parquet."""
    assert render_run_dir(hostile_run.out) == hostile_run.report_path.read_text(encoding="utf-8")


def test_summary_numbers_match_metrics(hostile_run: RunResult) -> None:  # noqa: F811
    raw = hostile_run.report_path.read_text(encoding="utf-8")
    m = _metrics(hostile_run)
    for mid, s in m["models"].items():
        row = raw[raw.index(f'<td class="id">{mid}') :].split("</tr>", 1)[0]
        assert f"{100 * s['accuracy']:.1f}%" in row
        assert f"{100 * s['balanced_accuracy']:.1f}%" in row
        assert f"{s['macro_f1']:.3f}" in row
        assert "unreadable × 1" in row
    fk = m["agreement"]["fleiss_kappa"]["value"]
    assert f'<div class="big">{fk:.2f}</div>' in raw
    assert f"{kappa_band(fk).capitalize()} agreement" in raw
    for sha in (p["sha256"] for p in m["provenance"]["models"].values()):
        assert sha in raw
    assert m["provenance"]["dataset_fingerprint"] in raw
    assert "pytest hostile run" in raw  # the command


def test_one_model_has_no_agreement_section_content(hostile_run: RunResult) -> None:  # noqa: F811
    m = _metrics(hostile_run)
    first = next(iter(m["models"]))
    m["models"] = {first: m["models"][first]}
    m["agreement"] = {
        "n_items": 20,
        "fleiss_kappa": {"value": None, "reason": "agreement needs at least two models"},
        "cohen_kappa": {},
        "percent_agreement": None,
    }
    m["provenance"]["models"] = {first: m["provenance"]["models"][first]}
    for key in ("agreement_levels", "disagreement", "humans"):  # a one-model run has no multi-model sections
        m.pop(key, None)
    for key in ("calibration", "selective", "ensembles", "affect"):  # built for 3 models; their figures
        m.pop(key, None)  # are counted in tests/test_uncertainty_report.py
    preds = pd.read_parquet(hostile_run.predictions_path)
    out = render_html(m, preds[preds["model_id"] == first])
    assert "Agreement needs at least two models; this run has 1." in out
    assert "Fleiss&#39; kappa</span>" not in out  # no kappa tile
    assert out.count("<svg") == 1  # its confusion matrix only
    assert 'id="disagreements"' not in out
    assert str(escape("<img src=x onerror=alert(1)> truncated.jpg")) in out


def test_minimal_and_none_metrics_render() -> None:
    """Only the required keys, a model that scored nothing, and no provenance: dashes and notes, no crash."""
    m = {
        "dataset": "d",
        "n_samples": 2,
        "models": {
            "a": {"n": 0, "accuracy": None, "macro_f1": None, "confusion": [], "labels": ["happy", "sad"]},
            "b": {"accuracy": None, "n_failed": 2, "failures": {"unreadable": 2}, "verified": False},
        },
    }
    out = render_html(m)
    assert 'id="provenance"' in out and "<svg" not in out
    assert "No confusion matrix" in out
    assert "unverified adapter" in out
    assert "Fleiss' kappa could not be computed" in out or "could not be computed" in out
    assert render_html({"dataset": "empty", "models": {}}).count("<section") >= 5


def test_flags_cover_lacking_classes_uncalibrated_and_dropped_mass() -> None:
    m = {
        "dataset": "d",
        "n_samples": 10,
        "labels": ["neutral", "happy", "contempt"],
        "models": {
            "five": {
                "n": 10,
                "accuracy": 0.5,
                "balanced_accuracy": 0.4,
                "macro_f1": 0.3,
                "missing_labels": ["contempt"],
                "extra_labels": ["fear"],
                "mean_dropped_mass": 0.12,
                "calibrated_scores": False,
                "verified": True,
            }
        },
    }
    out = render_html(m)
    assert "lacks contempt" in out
    assert "uncalibrated scores" in out
    assert "drops 12.0% mass" in out and "(on fear)" in out
    assert "unverified adapter" not in out


def test_failure_table_is_capped_with_a_count() -> None:
    n = MAX_FAILURE_ROWS + 37
    preds = pd.DataFrame(
        {
            "sample_id": [f"test/sad/f{i:04d}.jpg" for i in range(n)],
            "path": [f"/data/test/sad/f{i:04d}.jpg" for i in range(n)],
            "label": "sad",
            "model_id": "m",
            "status": "unreadable",
            "error": [
                str(SampleError("unreadable", f"/data/test/sad/f{i:04d}.jpg: not a decodable image"))
                for i in range(n)
            ],
        }
    )
    rows, total = failure_rows(preds, ["m"])
    assert total == n and len(rows) == MAX_FAILURE_ROWS
    assert rows[0].message == "not a decodable image"  # the path is the file column already
    assert _short_message(
        "bad_pixels: f.csv:3 [f.csv#1]: pixel row is malformed", "f.csv:3", "bad_pixels", "f.csv#1"
    ) == ("pixel row is malformed")
    m = {"dataset": "d", "n_samples": n, "models": {"m": {"n_failed": n, "failures": {"unreadable": n}}}}
    out = render_html(m, preds)
    assert f"Showing {MAX_FAILURE_ROWS} of {n} failures" in out
    assert out.count('<span class="badge warn">unreadable</span>') == MAX_FAILURE_ROWS


def test_figures_escape_model_ids_and_take_dollars_literally() -> None:
    evil = '<script>alert("m")</script> $x$'
    svg = str(confusion_svg([[1, 0], [0, 1]], ["happy", "sad"], evil))
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert "$x$" in svg  # not parsed as mathtext
    assert 'aria-label="confusion matrix of &lt;script&gt;' in svg
    heat = str(kappa_heatmap_svg({evil: {evil: 1.0, "b": 0.1}, "b": {evil: 0.1, "b": 1.0}}))
    assert "<script" not in heat and "&lt;script&gt;" in heat
    assert "<!--" not in heat and "<metadata" not in heat


def test_kappa_bands() -> None:
    assert kappa_band(None) is None
    assert kappa_band(-0.05) == "poor"
    assert kappa_band(0.0) == "slight" and kappa_band(0.2) == "slight"
    assert kappa_band(0.21) == "fair" and kappa_band(0.6) == "moderate"
    assert kappa_band(0.8) == "substantial" and kappa_band(0.81) == "almost perfect"
    assert kappa_band(1.0) == "almost perfect"


def test_template_marks_nothing_safe() -> None:
    """Pre-escaped HTML comes only as markupsafe.Markup from figures.py, never via the template's |safe."""
    text = (TEMPLATES / "report.html.j2").read_text().replace(" ", "")
    assert "|safe" not in text
    assert "autoescapefalse" not in text.lower()


def test_section_partials_render_in_order_and_escaped(
    hostile_run: RunResult,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Other capabilities add (key, partial) pairs; a partial sees m, section and figures, autoescaped."""
    partials = {
        "sections/one.j2": "<h2>One</h2><p class='one'>{{ section.note }} / {{ m.dataset }}</p>",
        "sections/two.j2": "<h2>Two</h2><p class='two'>{{ figures.confusion|length }}</p>",
    }
    base = report_html._env

    def env() -> Environment:
        e = base()
        e.loader = ChoiceLoader([e.loader, DictLoader(partials)])
        return e

    monkeypatch.setattr(report_html, "_env", env)
    from ferbench import sections

    monkeypatch.setattr(
        sections,
        "SECTIONS",
        {  # registered in another order than the report's: the report follows ``order``
            "one_k": sections.Section("one_k", "One", 2, template="one.j2"),
            "two_k": sections.Section("two_k", "Two", 1, template="two.j2"),
            "absent": sections.Section("absent", "Absent", 3, template="x.j2"),
        },
    )
    m = copy.deepcopy(_metrics(hostile_run))
    m["one_k"] = {"note": "<b>bold?</b>"}
    m["two_k"] = {}
    out = render_html(m)
    assert out.index('id="section-two_k"') < out.index('id="section-one_k"') < out.index('id="provenance"')
    assert "section-absent" not in out
    assert "&lt;b&gt;bold?&lt;/b&gt;" in out and "<b>bold?" not in out
    assert "<p class='two'>3</p>" in out
    assert 'href="#section-one_k"' in out


def test_contents_bar_names_each_section_once(hostile_run: RunResult) -> None:  # noqa: F811
    """Extra sections get their own names in the contents bar, never a second "Agreement" or the like."""
    import re

    out = render_html(_metrics(hostile_run))
    nav = out[out.index('<nav class="toc"') : out.index("</nav>")]
    names = re.findall(r'<a href="#[^"]+">([^<]+)</a>', nav)
    assert "Agreement detail" in names and "Swapped labels" in names  # the run has several models
    assert len(names) == len(set(names)), names
