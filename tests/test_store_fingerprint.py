"""Honest cache keys: a stored prediction is reused only when everything that produced it is unchanged.

Each test changes one thing between two runs into the same folder (a card field, the weight file, a face-stage
or perturbation parameter) and checks, against a fresh run into an empty folder as the oracle, that exactly
the affected predictions are recomputed, the others reused, and that no stale row reaches the metrics or
``predictions.parquet``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ferbench import api
from ferbench.cli import app
from ferbench.datasets import load_dataset
from ferbench.engine import EngineOptions, PredictionStore, run_models
from ferbench.errors import FerbenchError
from ferbench.fingerprint import variant_fingerprint
from ferbench.models import adapter, registry
from ferbench.models.cards import DESCRIPTIVE_ARTIFACT_FIELDS, DESCRIPTIVE_FIELDS, ModelCard

A, B = "fer-mini-xception", "oarriaga-mini-xception-119"
OPTS = EngineOptions(chunk_size=16, batch_size=8, threads=1)


@pytest.fixture(scope="module")
def small(fer2013_root: Path):  # type: ignore[no-untyped-def]
    return load_dataset("fer2013-images", fer2013_root).select("PrivateTest", 24, 0)


def _run(ds, out: Path, model_store: Path, **kw):  # type: ignore[no-untyped-def]
    return api.run(
        ds, out=out, models=f"{A},{B}", model_store=model_store, options=OPTS, write_report=False, **kw
    )


def _probs(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    cols = ["sample_id", "model_id", "variant", "status", *[c for c in df.columns if c.startswith("p_")]]
    return df[cols].sort_values(["model_id", "variant", "sample_id"]).reset_index(drop=True)


def _swap_card(monkeypatch: pytest.MonkeyPatch, card: ModelCard) -> None:
    monkeypatch.setitem(registry._REGISTRY, card.id, card)


def test_every_card_field_but_the_descriptive_ones_is_keyed() -> None:
    card = registry.get_card(A)
    fp = card.fingerprint
    assert fp is not None and fp == registry.get_card(A).fingerprint
    for f in dataclasses.fields(ModelCard):
        if f.name in ("artifact",):
            continue
        value = getattr(card, f.name)
        changed = {
            bool: lambda v: not v,
            str: lambda v: v + "x",
            tuple: lambda v: (*v, "x"),
            dict: lambda v: {**v, "x": "y"},
        }
        if f.name == "preprocess":
            new = dataclasses.replace(value, size=(value.size[0] + 1, value.size[1]))
        elif f.name == "face_prep":  # the crop the model is given
            new = dataclasses.replace(value, kind="square_box", margin=0.1)
        elif value is None:
            new = 3 if f.name == "fixed_batch" else (0, 7) if f.name == "class_columns" else "x"
        else:
            new = changed[type(value)](value)
        other = dataclasses.replace(card, **{f.name: new})
        assert (other.fingerprint == fp) == (f.name in DESCRIPTIVE_FIELDS), f.name
    for f in dataclasses.fields(card.artifact):
        art = dataclasses.replace(card.artifact, **{f.name: "0" * 64 if f.name == "sha256" else "elsewhere"})
        other = dataclasses.replace(card, artifact=art)
        assert (other.fingerprint == fp) == (f.name in DESCRIPTIVE_ARTIFACT_FIELDS), f.name


def test_adapter_version_and_declared_version_are_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    card = registry.get_card(A)
    fp = card.fingerprint
    monkeypatch.setattr(adapter, "ADAPTER_VERSION", adapter.ADAPTER_VERSION + 1)
    assert card.fingerprint != fp
    # No weight sha and no version: nothing pins the outputs, so no fingerprint, and each store (each run)
    # stands in a fingerprint of its own, so such rows are never reused.
    weightless = dataclasses.replace(card, artifact=dataclasses.replace(card.artifact, sha256=None))
    assert weightless.fingerprint is None
    s1, s2 = PredictionStore("/nonexistent/a"), PredictionStore("/nonexistent/a")
    assert s1.model_fingerprint(weightless) != s2.model_fingerprint(weightless)
    v1 = dataclasses.replace(weightless, version="1.0")
    assert (
        v1.fingerprint is not None
        and v1.fingerprint == dataclasses.replace(weightless, version="1.0").fingerprint
    )
    assert v1.fingerprint != dataclasses.replace(weightless, version="1.1").fingerprint
    assert s1.model_fingerprint(v1) == s2.model_fingerprint(v1)


def test_card_change_recomputes_that_model_only(
    small, model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    first = _run(small, out, model_store)
    assert first.engine.computed == {A: 24, B: 24}
    # A one-line preprocessing change on A's card (the resize rule): only A is recomputed.
    card = registry.get_card(A)
    _swap_card(
        monkeypatch,
        dataclasses.replace(card, preprocess=dataclasses.replace(card.preprocess, resize="pil_bilinear")),
    )
    second = _run(small, out, model_store)
    assert second.engine.computed == {A: 24, B: 0}
    assert second.engine.reused == {A: 0, B: 24}
    fresh = _run(small, tmp_path / "fresh", model_store)
    pd.testing.assert_frame_equal(_probs(second.predictions_path), _probs(fresh.predictions_path))
    assert second.metrics["models"] == fresh.metrics["models"]
    # The old rows are still on disk, but only the current ones are read.
    store = PredictionStore(out)
    assert len(store.read(current=False)) == 3 * 24
    assert len(store.read()) == 2 * 24
    # A descriptive edit (notes) recomputes nothing.
    _swap_card(monkeypatch, dataclasses.replace(registry.get_card(A), notes="reworded"))
    assert _run(small, out, model_store).engine.total_computed == 0


def test_weight_change_recomputes_without_a_crash(
    small, model_store: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # A private model store whose file for model A is first A's weights, then B's (same input size: 64 px
    # grey for big-xception-54; here we keep A's card but point it at another file with its own sha).
    store_dir = tmp_path / "store"
    card = registry.get_card(A)
    src = model_store / card.artifact.path
    dst = store_dir / card.artifact.path
    dst.parent.mkdir(parents=True)
    shutil.copyfile(src, dst)
    out = tmp_path / "run"
    api.run(small, out=out, models=A, model_store=store_dir, options=OPTS, write_report=False)
    other = registry.get_card("oarriaga-big-xception-54")  # also 64 px grey, seven classes
    shutil.copyfile(model_store / other.artifact.path, dst)
    _swap_card(
        monkeypatch,
        dataclasses.replace(card, artifact=dataclasses.replace(card.artifact, sha256=other.artifact.sha256)),
    )
    second = api.run(small, out=out, models=A, model_store=store_dir, options=OPTS, write_report=False)
    assert second.engine.computed == {A: 24}
    preds = pd.read_parquet(second.predictions_path)
    assert len(preds) == 24 and set(preds["model_sha256"]) == {other.artifact.sha256}
    fresh = api.run(
        small, out=tmp_path / "fresh", models=A, model_store=store_dir, options=OPTS, write_report=False
    )
    pd.testing.assert_frame_equal(_probs(second.predictions_path), _probs(fresh.predictions_path))


def test_face_stage_and_perturbation_parameters_are_keyed(
    small, model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferbench.faces import detectors
    from ferbench.faces.cards import DETECTOR_CARDS
    from ferbench.perturb import registry as perturb_registry

    out = tmp_path / "run"
    kw = {"faces": "yunet", "perturb": "blur:2"}
    first = _run(small, out, model_store, **kw)
    assert first.engine.total_computed == 48
    # Same names, same everything: all reused.
    again = _run(small, out, model_store, **kw)
    assert again.engine.total_computed == 0
    assert all(
        sum(r["computed"].values()) == 0 for r in again.metrics["provenance"]["perturb_engine"].values()
    )
    # The detector's score threshold is not in the variant name, but it is in the fingerprint.
    yunet = DETECTOR_CARDS["yunet"]
    monkeypatch.setitem(DETECTOR_CARDS, "yunet", dataclasses.replace(yunet, score_threshold=0.5))
    monkeypatch.setattr(detectors, "_CACHE", {})
    third = _run(small, out, model_store, **kw)
    assert third.engine.computed == {A: 24, B: 24}
    # A perturbation's level table changes: the perturbed rows are recomputed, the face-crop rows reused.
    blur = perturb_registry.PERTURBATIONS["blur"]
    monkeypatch.setitem(
        perturb_registry.PERTURBATIONS, "blur", dataclasses.replace(blur, levels=(0.5, 1.5, 1.5, 2.0, 3.0))
    )
    fourth = _run(small, out, model_store, **kw)
    assert fourth.engine.total_computed == 0
    (pert,) = fourth.metrics["provenance"]["perturb_engine"].values()
    assert pert["computed"] == {A: 24, B: 24}
    fresh = _run(small, tmp_path / "fresh", model_store, **kw)
    assert fourth.metrics["robustness"] == fresh.metrics["robustness"]
    pd.testing.assert_frame_equal(_probs(fourth.predictions_path), _probs(fresh.predictions_path))
    # The seed changes the noise of seeded ops, so it is keyed even when the variant name leaves it out.
    base = variant_fingerprint("clean")
    from ferbench.perturb.engine import perturb_fingerprint
    from ferbench.perturb.registry import PerturbSpec

    spec = PerturbSpec("noise", 2)
    assert perturb_fingerprint("v", spec, 0, base) != perturb_fingerprint("v", spec, 1, base)


def test_rows_written_before_fingerprints_are_never_read(small, model_store: Path, tmp_path: Path) -> None:
    store = PredictionStore(tmp_path / "run")
    card = registry.get_card(A)
    run_models(small, [card], store, model_store=model_store, options=OPTS)
    rows = store.read()
    legacy = rows.drop(columns=["model_fingerprint", "variant_fingerprint"])
    legacy_path = store.parts_dir / A / "clean" / "part-00000000000000000000-legacy.parquet"
    legacy.to_parquet(legacy_path)
    assert len(store.read(current=False)) == 2 * 24
    pd.testing.assert_frame_equal(store.read().reset_index(drop=True), rows.reset_index(drop=True))
    again = run_models(small, [card], store, model_store=model_store, options=OPTS)
    assert again.total_computed == 0


def test_store_info_and_prune(
    small, model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _run(small, out, model_store)
    card = registry.get_card(B)
    _swap_card(
        monkeypatch, dataclasses.replace(card, label_overrides={"fear": "surprise", "surprise": "fear"})
    )
    before = _run(small, out, model_store)
    runner = CliRunner()
    info = runner.invoke(app, ["store", "info", str(out), "--json"])
    assert info.exit_code == 0, info.output
    entries = json.loads(info.output)
    stale = [e for e in entries if not e["current"]]
    assert [(e["model_id"], e["rows"]) for e in stale] == [(B, 24)]
    assert sorted((e["model_id"], e["rows"]) for e in entries if e["current"]) == [(A, 24), (B, 24)]
    text = runner.invoke(app, ["store", "info", str(out)])
    assert "stale" in text.output and "48" not in text.output.split("rows,")[-1]
    pruned = runner.invoke(app, ["store", "prune", str(out)])
    assert pruned.exit_code == 0 and "removed 24 stale rows" in pruned.output
    store = PredictionStore(out)
    assert len(store.read(current=False)) == 48
    after = _run(small, out, model_store)
    assert after.engine.total_computed == 0
    pd.testing.assert_frame_equal(_probs(before.predictions_path), _probs(after.predictions_path))
    assert after.metrics["models"] == before.metrics["models"]
    missing = runner.invoke(app, ["store", "info", str(tmp_path / "nothing")])
    assert isinstance(missing.exception, FerbenchError) and "no prediction store" in str(missing.exception)


def test_a_refused_run_leaves_what_is_current_unchanged(
    small, model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _run(small, out, model_store)
    ledger = (out / "store.json").read_text()
    card = registry.get_card(A)
    wrong = dataclasses.replace(card, artifact=dataclasses.replace(card.artifact, sha256="0" * 64))
    _swap_card(monkeypatch, wrong)
    with pytest.raises(FerbenchError, match="sha256"):
        _run(small, out, model_store)
    assert (out / "store.json").read_text() == ledger
    assert len(PredictionStore(out).read()) == 48
