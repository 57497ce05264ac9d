"""Card files: the zoo's TOML cards equal the Python cards they replaced, and the strict loader's errors."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from ferbench.models.cardfile import CardError, dumps_card, load_card_file, parse_card
from ferbench.models.cards import ModelCard
from ferbench.models.zoo import CARD_DIR, CARDS

SNAPSHOT = Path(__file__).parent / "data" / "zoo_cards_python.json"


def _jsonable(card: ModelCard) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(card)))


def test_every_toml_card_equals_the_python_card_it_replaced() -> None:
    # tests/data/zoo_cards_python.json was written from zoo.py / zoo_unverified.py's ModelCard constructors
    # (dataclasses.asdict) before they were deleted; tools/zoo_to_toml.py wrote the TOML files.
    before = {d["id"]: d for d in json.loads(SNAPSHOT.read_text())}
    now = {c.id: _jsonable(c) for c in CARDS}
    assert set(before) <= set(now)
    defaults = {f.name: f.default for f in dataclasses.fields(ModelCard)}
    for mid, d in before.items():
        assert {k: now[mid][k] for k in d} == d, mid
        # fields added to ModelCard after the conversion hold their defaults in every zoo card
        assert all(now[mid][k] == defaults[k] for k in set(now[mid]) - set(d)), mid
    # exact types too: tuples stay tuples, floats floats
    fer = next(c for c in CARDS if c.id == "fer-mini-xception")
    assert fer.preprocess.size == (64, 64) and fer.preprocess.scale == 1 / 255
    assert isinstance(fer.classes, tuple) and isinstance(fer.preprocess.mean[0], float)


def test_dump_then_parse_is_the_same_card() -> None:
    import tomllib

    for card in CARDS:
        assert parse_card(tomllib.loads(dumps_card(card)), card.id) == card
        assert parse_card(tomllib.loads(dumps_card(card, full=True)), card.id) == card


def test_converter_writes_cards_that_read_back(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    mod = tmp_path / "extra_cards.py"
    mod.write_text(
        "from dataclasses import replace\n"
        "from ferbench.models import get_card\n"
        "CARDS = (replace(get_card('fer-mini-xception'), id='fer-mini-xception-copy'),)\n"
    )
    env = {"PYTHONPATH": f"{root / 'src'}:{tmp_path}", "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, str(root / "tools" / "zoo_to_toml.py"), "extra_cards:CARDS", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "out" / "fer-mini-xception-copy.toml").read_text()
    assert (
        text.replace("fer-mini-xception-copy", "fer-mini-xception")
        == (CARD_DIR / "fer-mini-xception.toml").read_text()
    )


# --- a user's card ---------------------------------------------------------------------------------------

GOOD = """
id = "my-fer"
name = "my copy"
family = "cnn"
runtime = "onnx"
licence = "MIT"
training_data = "FER2013"
output = "softmax"
classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

[artifact]
path = "weights/m.onnx"
upstream = "a copy"

[preprocess]
size = [64, 64]
color = "gray_cv2"
resize = "cv2_linear"
scale = 0.00392156862745098
mean = [0.5]
std = [0.5]
"""


@pytest.fixture()
def card_dir(tmp_path: Path, model_store: Path) -> Path:
    (tmp_path / "weights").mkdir()
    shutil.copy(
        model_store / "_onnx-converted" / "fer_mini_xception_102.onnx", tmp_path / "weights" / "m.onnx"
    )
    (tmp_path / "card.toml").write_text(GOOD)
    return tmp_path


def _bad(card_dir: Path, text: str) -> str:
    (card_dir / "card.toml").write_text(text)
    with pytest.raises(CardError) as exc:
        load_card_file(card_dir / "card.toml", check_weights=True)
    msg = str(exc.value)
    assert "\n" not in msg and str(card_dir / "card.toml") in msg and "fix:" in msg
    return msg


def test_bad_cards_fail_with_one_line_naming_card_field_and_fix(card_dir: Path) -> None:
    assert "field 'colour': unknown field; did you mean 'color'" in _bad(
        card_dir, GOOD.replace('color = "gray_cv2"', 'colour = "gray_cv2"')
    ).replace("preprocess.", "")
    assert "field 'output': required field is missing" in _bad(
        card_dir, GOOD.replace('output = "softmax"\n', "")
    )
    assert "field 'preprocess.size[0]': expected an integer, got '64'" in _bad(
        card_dir, GOOD.replace("size = [64, 64]", 'size = ["64", 64]')
    )
    assert "'gray' is not one of" in _bad(card_dir, GOOD.replace('"gray_cv2"', '"gray"'))
    assert "field 'classes'" in _bad(card_dir, GOOD.replace('"angry"', '"grumpy"'))
    assert "field 'verified': only ferbench's own zoo" in _bad(card_dir, "verified = true\n" + GOOD)
    assert "field 'preprocess.mean': 3 values for a 1-channel" in _bad(
        card_dir, GOOD.replace("mean = [0.5]", "mean = [0.5, 0.5, 0.5]")
    )
    assert "DECIDE" in _bad(card_dir, GOOD.replace('"FER2013"', '"DECIDE: what was it trained on"'))
    # weights: missing, unpinned, not matching
    assert "field 'artifact.path': weight file" in _bad(card_dir, GOOD.replace("m.onnx", "nope.onnx"))
    assert "artifact.sha256': weight file" in _bad(card_dir, GOOD) and "models check" in _bad(card_dir, GOOD)
    assert "has sha256" in _bad(
        card_dir, GOOD.replace('upstream = "a copy"', 'upstream = "a copy"\nsha256 = "00"')
    )


def test_a_good_card_loads_as_unverified_with_an_absolute_weight_path(card_dir: Path) -> None:
    card = load_card_file(card_dir / "card.toml", check_weights=False)
    assert card.verified is False
    assert Path(card.artifact.path) == (card_dir / "weights" / "m.onnx").absolute()
    assert card.preprocess == next(c for c in CARDS if c.id == "fer-mini-xception").preprocess
