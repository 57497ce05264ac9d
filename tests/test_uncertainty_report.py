"""The report shows ECE before/after temperature scaling, reliability diagrams, risk–coverage curves, the
commit-threshold table, ensemble rows and the affect view, from a real run; and renders without them."""

from __future__ import annotations

import json
import re

import pytest
from _uncertainty_data import real_run

from ferbench.report.figures_uncertainty import circumplex_svg, reliability_svg, risk_coverage_svg
from ferbench.report.html import render_html


@pytest.fixture(scope="module")
def run(fer2013_root, model_store):
    return real_run(fer2013_root, model_store)


def _section(html: str, key: str) -> str:
    start = html.index(f'<section id="section-{key}"')
    return html[start : html.index("</section>", start)]


def test_report_sections(run):
    html = run.report_path.read_text()
    m = run.metrics
    cal = _section(html, "calibration")
    assert "ECE on PrivateTest: before → after" in cal and "fit on PublicTest" in cal
    t = m["calibration"]["models"]["fer-mini-xception"]["temperature"]
    assert f"T = {t['temperature']:.2f}" in cal
    assert f"{t['before']['ece']:.3f} → <strong>{t['after']['ece']:.3f}</strong>" in cal
    assert cal.count("<svg") == 1  # the reliability diagrams
    sel = _section(html, "selective")
    assert "commit at ≥ 5%" in sel and "commit at ≥ 90%" in sel
    assert sel.count("<svg") == 2  # risk–coverage by confidence and by agreement
    c90 = m["selective"]["models"]["fer-mini-xception"]["confidence"]["commit"][3]
    assert f"{100 * c90['coverage']:.1f}% / {100 * c90['accuracy']:.1f}%" in sel
    ens = _section(html, "ensembles")
    for name, e in m["ensembles"].items():
        assert name in ens and f"{100 * e['coverage']:.1f}%" in ens
    assert "low confidence: " in ens
    aff = _section(html, "affect")
    assert "ICC(A,1)" in aff and "not what the person feels" in aff and aff.count("<svg") == 1
    # SVG ids are scoped so several inline figures do not collide
    ids = re.findall(r'<svg[^>]*>|id="(unc-[^"]+)"', html)
    scoped = [i for i in ids if i]
    assert len(scoped) == len(set(scoped))


def test_metrics_json_keeps_skeleton_keys(run):
    m = json.loads(run.metrics_path.read_text())
    assert {"models", "agreement", "calibration", "selective", "ensembles", "affect"} <= set(m)
    assert set(m["models"]) == {c.id for c in run.cards}


def test_renders_without_uncertainty_sections(run):
    m = {k: v for k, v in run.metrics.items() if k not in ("calibration", "selective", "ensembles", "affect")}
    html = render_html(m, None, thumbnails=False)
    assert 'id="section-calibration"' not in html and 'id="section-affect"' not in html


def test_skipped_temperature_renders_its_reason(run):
    m = json.loads(json.dumps(run.metrics))
    tp = m["calibration"]["temperature_protocol"]
    tp.update(status="skipped", reason="the evaluated samples have no PrivateTest split")
    for row in [*m["calibration"]["models"].values(), *m["calibration"]["ensembles"].values()]:
        row["temperature"] = {"status": "skipped", "reason": tp["reason"]}
    for row in [*m["selective"]["models"].values(), *m["selective"]["ensembles"].values()]:
        row["calibrated"] = None
    html = render_html(m, None, thumbnails=False)
    assert "Temperature scaling skipped: the evaluated samples have no PrivateTest split" in html


def test_figures_handle_empty_input():
    assert reliability_svg(None) is None and reliability_svg({"models": {}}) is None
    assert risk_coverage_svg({}) is None and circumplex_svg({}) is None
