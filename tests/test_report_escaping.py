"""Dataset-derived text in report.html is escaped, and the page references nothing outside itself.

Runs ferbench end to end on a tiny real FER2013 folder whose file names are HTML, then reads the raw HTML.
"""

from __future__ import annotations

from html.parser import HTMLParser

from _report_data import (  # noqa: F401  (hostile_run is a fixture)
    AMP_OK,
    HOSTILE_BAD,
    HOSTILE_DATASET,
    HOSTILE_OK,
    hostile_run,
    statuses,
)
from markupsafe import escape

from ferbench.api import RunResult


class _Collect(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(text: str) -> _Collect:
    p = _Collect()
    p.feed(text)
    p.close()
    return p


def test_run_records_the_hostile_samples(hostile_run: RunResult) -> None:  # noqa: F811
    st = statuses(hostile_run)
    ok = st[st["sample_id"].str.endswith(HOSTILE_OK)]
    bad = st[st["sample_id"].str.endswith(HOSTILE_BAD)]
    assert len(ok) == 3 and (ok["status"] == "ok").all()
    assert len(bad) == 3 and (bad["status"] == "unreadable").all()
    for s in hostile_run.metrics["models"].values():
        assert s["n_failed"] == 1 and s["failures"] == {"unreadable": 1}


def test_hostile_names_are_escaped(hostile_run: RunResult) -> None:  # noqa: F811
    raw = hostile_run.report_path.read_text(encoding="utf-8")
    # The hostile markup never appears as markup...
    assert "<img src=x" not in raw
    assert "<script" not in raw.lower()
    # ...but is shown, escaped once (not twice), in the failures table and the header.
    assert str(escape(HOSTILE_BAD)) in raw
    assert str(escape(HOSTILE_DATASET)) in raw
    assert "&amp;amp;" not in raw and "&amp;lt;" not in raw
    doc = _parse(raw)
    text = "".join(doc.text)
    assert f"test/sad/{HOSTILE_BAD}" in text  # the failure row, as a reader sees it
    assert "corrupt image header" in text  # an eighth of a JPEG: its header is already cut
    assert "unreadable: " not in text  # the reason has its own column; the detail is not repeated with it
    assert HOSTILE_DATASET in text
    assert AMP_OK not in raw  # it may appear (disagreement table), but only escaped
    # No element carries an event handler; every image is one of our inline PNG thumbnails.
    for tag, attrs in doc.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/png;base64,"), attrs


def test_report_is_self_contained(hostile_run: RunResult) -> None:  # noqa: F811
    raw = hostile_run.report_path.read_text(encoding="utf-8")
    doc = _parse(raw)
    tags = {t for t, _ in doc.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed"}
    for tag, attrs in doc.tags:
        for name in ("src", "href", "xlink:href", "srcset", "action"):
            v = attrs.get(name)
            if v is not None:
                assert v.startswith(("#", "data:image/png;base64,")), (tag, name, v)
    # CSS may not import or fetch anything either.
    assert "@import" not in raw and "url(http" not in raw and "url(//" not in raw
    assert "@font-face" not in raw
    # Every section the brief asks for is there, and the failure section shows the row.
    for sid in ("about", "summary", "agreement", "per-class", "confusion", "failures", "provenance"):
        assert f'id="{sid}"' in raw, sid
    assert raw.count("<svg") >= 1 + 1 + 3  # kappa scale, kappa heat-map, one confusion matrix per model


def test_svg_ids_are_unique_across_figures(hostile_run: RunResult) -> None:  # noqa: F811
    doc = _parse(hostile_run.report_path.read_text(encoding="utf-8"))
    ids = [a["id"] for _, a in doc.tags if a.get("id")]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    refs = [
        v[1:] for _, a in doc.tags for k, v in a.items() if k in ("href", "xlink:href") and v and v[0] == "#"
    ]
    assert set(refs) <= set(ids)
