"""Extension points: a CallableModel, plugins found through real entry points, and the typed RunResult views."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, cohen_kappa_score, f1_score

import ferbench
from ferbench.errors import ModelError
from ferbench.hashing import sha256_file

ROOT = Path(__file__).resolve().parents[1]
FER = "_onnx-converted/fer_mini_xception_102.onnx"


def _onnx_fn(path: Path):  # type: ignore[no-untyped-def]
    """A stand-in for a PyTorch/JAX model: a plain function from a preprocessed batch to scores."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    calls: list[int] = []

    def fn(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return sess.run(None, {name: batch})[0]

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def test_callable_model_equals_the_zoo_model_and_is_cached_only_with_a_version(
    tmp_path: Path, model_store: Path, fer2013_root: Path
) -> None:
    zoo = ferbench.get_card("fer-mini-xception")
    fn = _onnx_fn(model_store / FER)
    model = ferbench.CallableModel(
        "my-callable", fn, classes=zoo.classes, preprocess=zoo.preprocess, version="1"
    )
    cfg = ferbench.RunConfig(
        "fer2013-images", data_root=fer2013_root, split="test", limit=20, model_store=model_store,
        models=[model, "fer-mini-xception"], out=tmp_path / "run", write_report=False,
        options=ferbench.EngineOptions(batch_size=8),
    )  # fmt: skip
    res = ferbench.run(cfg)
    p = res.predictions
    a = p[p.model_id == "my-callable"].set_index("sample_id").sort_index()
    b = p[p.model_id == "fer-mini-xception"].set_index("sample_id").sort_index()
    cols = [c for c in p.columns if c.startswith("p_")]
    np.testing.assert_array_equal(a[cols].to_numpy(), b[cols].to_numpy())
    assert max(fn.calls) == 8 and sum(fn.calls) == 20 + 1  # batched by the engine; +1: the probe
    assert res.metrics["provenance"]["models"]["my-callable"]["version"] == "1"
    assert res.summary().loc["my-callable", "users_own"]

    assert ferbench.run(cfg).engine.computed["my-callable"] == 0  # same version: reused
    v2 = ferbench.CallableModel(
        "my-callable", fn, classes=zoo.classes, preprocess=zoo.preprocess, version="2"
    )
    assert ferbench.run(cfg, models=[v2]).engine.computed["my-callable"] == 20
    unversioned = ferbench.CallableModel("my-callable", fn, classes=zoo.classes, preprocess=zoo.preprocess)
    for _ in range(2):  # no version: never reused
        assert ferbench.run(cfg, models=[unversioned]).engine.computed["my-callable"] == 20


def test_callable_model_errors_are_one_line_and_store_nothing(
    tmp_path: Path, model_store: Path, fer2013_root: Path
) -> None:
    zoo = ferbench.get_card("fer-mini-xception")
    bad = ferbench.CallableModel(
        "my-bad", lambda x: np.ones((len(x), 5)), classes=zoo.classes, preprocess=zoo.preprocess, version="1"
    )
    with pytest.raises(ModelError, match=r"my-bad.*returned shape \[1, 5\].*expected \[1, 7\]"):
        ferbench.run(
            "fer2013-images", data_root=fer2013_root, limit=4, models=[bad], out=tmp_path, write_report=False
        )
    assert not (tmp_path / "parts" / "my-bad").exists()
    neg = ferbench.CallableModel(
        "my-logits", lambda x: -np.ones((len(x), 7)), classes=zoo.classes, preprocess=zoo.preprocess
    )
    with pytest.raises(ModelError, match="output='logits'"):
        ferbench.run(
            "fer2013-images",
            data_root=fer2013_root,
            limit=4,
            models=[neg],
            write_report=False,
            model_store=model_store,
        )


def test_run_result_predictions_and_summary_match_metrics_json(
    tmp_path: Path, model_store: Path, fer2013_root: Path
) -> None:
    models = "fer-mini-xception,oarriaga-mini-xception-119,emotion-model-cnn5"
    res = ferbench.run(
        "fer2013-images", data_root=fer2013_root, split="test", limit=60, models=models, model_store=model_store,
        out=tmp_path / "run", write_report=False, perturb="blur:2",
    )  # fmt: skip
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    p = res.predictions
    ids = models.split(",")
    assert set(p["variant"]) == {"clean", next(v for v in res.variants if v != "clean")}
    assert len(p) == 60 * 3 * 2
    labels = metrics["labels"]
    clean = p[p.variant == "clean"]
    prob_cols = [f"p_{lab}" for lab in labels]
    ok = clean["status"] == "ok"
    np.testing.assert_allclose(clean.loc[ok, prob_cols].sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(clean.loc[ok, "probability"], clean.loc[ok, prob_cols].max(axis=1))
    s = res.summary()
    assert list(s.index) == ids
    per_model = {}
    for mid in ids:
        m = metrics["models"][mid]
        rows = clean[(clean.model_id == mid) & (clean.status == "ok")]
        per_model[mid] = rows.set_index("sample_id")["label"]
        # an independent oracle (scikit-learn on the long table) and metrics.json agree with summary()
        assert (
            s.loc[mid, "accuracy"]
            == pytest.approx(accuracy_score(rows.true_label, rows.label))
            == pytest.approx(m["accuracy"])
        )
        assert s.loc[mid, "balanced_accuracy"] == pytest.approx(
            balanced_accuracy_score(rows.true_label, rows.label)
        )
        assert s.loc[mid, "macro_f1"] == pytest.approx(m["macro_f1"])
        assert s.loc[mid, "macro_f1"] == pytest.approx(
            f1_score(rows.true_label, rows.label, labels=labels, average="macro", zero_division=0)
        )
        assert s.loc[mid, "ece"] == pytest.approx(metrics["calibration"]["models"][mid]["ece"])
        assert s.loc[mid, "n_failed"] == m["n_failed"]
    for mid in ids:
        kappas = [
            cohen_kappa_score(per_model[mid], per_model[o].loc[per_model[mid].index]) for o in ids if o != mid
        ]
        assert s.loc[mid, "mean_cohen_kappa"] == pytest.approx(np.mean(kappas))


def test_out_none_runs_in_a_temporary_folder(model_store: Path, fer2013_root: Path) -> None:
    cfg = ferbench.RunConfig(
        "fer2013-images",
        data_root=fer2013_root,
        limit=6,
        models="fer-mini-xception",
        model_store=model_store,
        write_report=False,
    )
    res = ferbench.run(cfg)
    assert not res.out.exists() and len(res.predictions) == 6
    with pytest.raises(TypeError, match="unknown option.*modles"):
        ferbench.run("fer2013-images", modles="x")


# --- plugins through real entry points ----------------------------------------------------------------------

PLUGIN = """
from pathlib import Path

import numpy as np

from ferbench.datasets.fer2013 import load_fer2013_images
from ferbench.perturb import Perturbation

HERE = Path(__file__).parent
CARDS = [HERE / "cards" / "plugin-fer.toml"]


def load_tiny(root, limit_per_class: int = 2):
    \"\"\"A tiny FER2013 test subset, from a plugin.\"\"\"
    ds = load_fer2013_images(root)
    test = ds.samples[ds.samples["sample_id"].str.startswith("test/")]
    keep = test.groupby("label").head(limit_per_class)
    import dataclasses
    return dataclasses.replace(ds, name="tiny", samples=keep.reset_index(drop=True))


def _invert(img, level, rng, landmarks=None):
    return (255 - img).astype(np.uint8)


INVERT = Perturbation("invert", _invert, (1.0,), "", "photographic negative (a plugin's)")
"""


@pytest.fixture()
def plugin_path(tmp_path: Path, model_store: Path) -> Path:
    site = tmp_path / "site"
    pkg = site / "ferbench_demo_plugin"
    (pkg / "cards").mkdir(parents=True)
    (pkg / "__init__.py").write_text(PLUGIN)
    shutil.copy(model_store / FER, pkg / "cards" / "w.onnx")
    card = (ROOT / "src/ferbench/models/cards/fer-mini-xception.toml").read_text()
    card = card.replace('id = "fer-mini-xception"', 'id = "plugin-fer"').replace("verified = true\n", "")
    card = card.replace('reference_outputs = "fer_pkg_mini_xception.json"\n', "")
    card = card.replace('path = "_onnx-converted/fer_mini_xception_102.onnx"', 'path = "w.onnx"')
    (pkg / "cards" / "plugin-fer.toml").write_text(card)
    dist = site / "ferbench_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ferbench-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[ferbench.models]\ndemo = ferbench_demo_plugin:CARDS\n\n"
        "[ferbench.datasets]\ntiny-fer = ferbench_demo_plugin:load_tiny\n\n"
        "[ferbench.perturbations]\ninvert = ferbench_demo_plugin:INVERT\n"
    )
    assert sha256_file(pkg / "cards" / "w.onnx") in card
    return site


def test_plugin_models_datasets_and_perturbations_through_entry_points(
    plugin_path: Path, model_store: Path, fer2013_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "PYTHONPATH": f"{ROOT / 'src'}:{plugin_path}",
        "PATH": "/usr/bin:/bin",
        "HOME": str(plugin_path),
        "COLUMNS": "200",
    }
    out = subprocess.run(
        [sys.executable, "-m", "ferbench.cli", "models", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert (
        rows["plugin-fer"]["origin"] == "plugin ferbench-demo-plugin (demo)"
        and not rows["plugin-fer"]["verified"]
    )
    ds = subprocess.run(
        [sys.executable, "-m", "ferbench.cli", "datasets", "list"], capture_output=True, text=True, env=env
    )
    assert "tiny-fer" in ds.stdout and "plugin: ferbench-demo-plugin" in ds.stdout

    # in this process: the same entry points drive a run with the plugin's model, dataset and perturbation
    from ferbench.datasets import base
    from ferbench.models import registry
    from ferbench.perturb import registry as perturbations

    monkeypatch.syspath_prepend(str(plugin_path))
    registry.reload_plugins()
    base.reload_plugins()
    perturbations.reload_plugins()
    try:
        _run_plugin_items(model_store, fer2013_root)
    finally:  # the registries are process-wide: leave them as the other tests expect them
        registry._REGISTRY.pop("plugin-fer", None)
        base._LOADERS.pop("tiny-fer", None)
        perturbations.PERTURBATIONS.pop("invert", None)
        from ferbench import plugins

        plugins.reset()


def _run_plugin_items(model_store: Path, fer2013_root: Path) -> None:
    res = ferbench.run(
        "tiny-fer", data_root=fer2013_root, models="plugin-fer,fer-mini-xception", perturb="invert",
        model_store=model_store, write_report=False,
    )  # fmt: skip
    assert len(res.dataset) == 14 and "invert:1" in res.variants[1]
    p = res.predictions
    for variant in res.variants:
        a = p[(p.model_id == "plugin-fer") & (p.variant == variant)].set_index("sample_id").sort_index()
        b = (
            p[(p.model_id == "fer-mini-xception") & (p.variant == variant)]
            .set_index("sample_id")
            .sort_index()
        )
        assert (a["label"] == b["label"]).all()
    assert res.metrics["provenance"]["models"]["plugin-fer"]["users_own"]
    assert not p[p.variant == res.variants[1]]["label"].equals(
        p[p.variant == "clean"]["label"].reset_index(drop=True)
    )
