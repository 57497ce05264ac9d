"""User label maps (inline, JSON, CSV) and loader options given on the command line."""

from __future__ import annotations

import pytest

from ferbench.cli import parse_options
from ferbench.datasets.labelmap import load_label_map
from ferbench.errors import DatasetError


def test_label_map_forms_agree(tmp_path):
    inline = load_label_map("Smiling=joy, frown=Sadness ,other=exclude")
    js = tmp_path / "m.json"
    js.write_text('{"Smiling": "happy", "frown": "sad", "other": null}')
    tsv = tmp_path / "m.tsv"
    tsv.write_text("# my classes\nlabel\tcanonical\nSmiling\thappy\nfrown\tsad\nother\t-\n")
    for m in (
        inline,
        load_label_map(js),
        load_label_map(tsv),
        load_label_map({"Smiling": "happy", "frown": "sad", "other": None}),
    ):
        assert m.lookup("Smiling") == ("happy", "ok")
        assert m.lookup("smiling") == ("happy", "ok")  # case-insensitive fallback
        assert m.lookup("frown") == ("sad", "ok")
        assert m.lookup("other") == (None, "excluded_by_map")
        assert m.lookup("Angry") == ("anger", "ok")  # not in the map: synonym table
        assert m.lookup("bored") == (None, "unknown_label")


def test_label_map_errors_name_the_source(tmp_path):
    with pytest.raises(DatasetError, match="'a' -> 'grin' is not a canonical label"):
        load_label_map("a=grin")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(DatasetError, match="bad.json: label map JSON must be an object"):
        load_label_map(bad)
    bad.write_text("{nope")
    with pytest.raises(DatasetError, match="bad.json: label map is not valid JSON"):
        load_label_map(bad)
    csvf = tmp_path / "bad.csv"
    csvf.write_text("a,happy,extra\n")
    with pytest.raises(DatasetError, match=r"bad.csv:1: expected 'native,canonical', found 3 fields"):
        load_label_map(csvf)
    with pytest.raises(DatasetError, match="no such file, and not an inline"):
        load_label_map(tmp_path / "missing.json")


def test_cli_options_are_typed():
    assert parse_options(["first_frame_neutral=true", "images=original", "n=3"], "a=happy") == {
        "first_frame_neutral": True,
        "images": "original",
        "n": 3,
        "label_map": "a=happy",
    }
    with pytest.raises(DatasetError, match="'images' is not key=value"):
        parse_options(["images"], None)
