"""The prediction store and engine: resume after kill -9, no work on an unchanged re-run, failures recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ferbench import api
from ferbench.datasets import load_dataset
from ferbench.engine import EngineOptions, PredictionStore
from ferbench.errors import ModelError

MODELS = "fer-mini-xception,oarriaga-mini-xception-119,oarriaga-big-xception-54"
RUN_SCRIPT = """
import sys
from ferbench import api
from ferbench.engine import EngineOptions
api.run("fer2013-images", data_root=sys.argv[1], out=sys.argv[2], models=sys.argv[3], split="PrivateTest",
        limit=int(sys.argv[4]), model_store=sys.argv[5], options=EngineOptions(chunk_size=16, batch_size=8, threads=1),
        write_report=False)
"""


def _run_cli_script(fer2013_root: Path, out: Path, model_store: Path, limit: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT, str(fer2013_root), str(out), MODELS, str(limit), str(model_store)]
    )


def _sections(path: Path) -> dict:
    m = json.loads(path.read_text())
    return {
        "models": m["models"],
        "agreement": m["agreement"],
        "n": m["n_samples"],
        "fp": m["provenance"]["dataset_fingerprint"],
    }


def test_killed_run_resumes_to_identical_metrics(tmp_path, fer2013_root, model_store):
    limit = 400
    killed = tmp_path / "killed"
    proc = _run_cli_script(fer2013_root, killed, model_store, limit)
    parts = killed / "parts"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if parts.exists() and len(list(parts.rglob("part-*.parquet"))) >= 6:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; make it longer"
    assert not (killed / "metrics.json").exists()
    done_before = len(PredictionStore(killed).read())
    assert 0 < done_before < 3 * limit

    # Every part left behind is whole and readable (temporary files are never named part-*.parquet).
    for p in parts.rglob("*.parquet"):
        pd.read_parquet(p)

    ds = load_dataset("fer2013-images", fer2013_root)
    opts = EngineOptions(chunk_size=16, batch_size=8, threads=1)
    resumed = api.run(
        ds,
        out=killed,
        models=MODELS,
        split="PrivateTest",
        limit=limit,
        model_store=model_store,
        options=opts,
        write_report=False,
    )
    assert sum(resumed.engine.reused.values()) == done_before
    assert resumed.engine.total_computed == 3 * limit - done_before

    fresh = api.run(
        ds,
        out=tmp_path / "fresh",
        models=MODELS,
        split="PrivateTest",
        limit=limit,
        model_store=model_store,
        options=opts,
        write_report=False,
    )
    assert _sections(resumed.metrics_path) == _sections(fresh.metrics_path)

    again = api.run(
        ds,
        out=killed,
        models=MODELS,
        split="PrivateTest",
        limit=limit,
        model_store=model_store,
        options=opts,
        write_report=False,
    )
    assert again.engine.total_computed == 0
    assert _sections(again.metrics_path) == _sections(fresh.metrics_path)
    table = pd.read_parquet(again.predictions_path)
    assert len(table) == 3 * limit
    assert set(table["status"]) == {"ok"}


def test_bad_samples_are_recorded_and_the_run_goes_on(tmp_path, fer2013_root, model_store):
    root = tmp_path / "data"
    for cls in ("happy", "sad"):
        d = root / "test" / cls
        d.mkdir(parents=True)
        for f in sorted((fer2013_root / "test" / cls).glob("PrivateTest_*.jpg"))[:5]:
            (d / f.name).write_bytes(f.read_bytes())
    (root / "test" / "happy" / "PrivateTest_0.jpg").write_bytes(b"")
    (root / "test" / "sad" / "PrivateTest_1.jpg").write_text("this is not a jpeg")
    good = next((fer2013_root / "test" / "sad").glob("PublicTest_*.jpg")).read_bytes()
    (root / "test" / "sad" / "PrivateTest_2.jpg").write_bytes(good[: len(good) // 3])  # truncated

    res = api.run(
        "fer2013-images",
        data_root=root,
        out=tmp_path / "run",
        models="fer-mini-xception",
        model_store=model_store,
        write_report=False,
    )
    sec = res.metrics["models"]["fer-mini-xception"]
    assert res.metrics["n_samples"] == 13
    assert sec["failures"]["empty_file"] == 1
    assert sec["failures"]["unreadable"] >= 1
    assert sec["n"] + sec["n_failed"] == 13
    rows = pd.read_parquet(res.predictions_path).set_index("sample_id")
    assert "file is empty" in rows.loc["test/happy/PrivateTest_0.jpg", "error"]
    assert str(root / "test" / "sad" / "PrivateTest_1.jpg") in rows.loc["test/sad/PrivateTest_1.jpg", "error"]
    assert rows.loc["test/happy/PrivateTest_0.jpg", ["p_happy"]].isna().all()


def test_tampered_weights_write_nothing_for_that_model(tmp_path, fer2013_root, model_store):
    store = tmp_path / "store" / "_onnx-converted"
    store.mkdir(parents=True)
    src = model_store / "_onnx-converted" / "fer_mini_xception_102.onnx"
    data = bytearray(src.read_bytes())
    data[-1] ^= 0xFF
    (store / src.name).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="has sha256 .* expected bc1439ec"):
        api.run(
            "fer2013-images",
            data_root=fer2013_root,
            out=tmp_path / "run",
            models="fer-mini-xception",
            split="PublicTest",
            limit=5,
            model_store=tmp_path / "store",
            write_report=False,
        )
    assert not (tmp_path / "run" / "parts" / "fer-mini-xception").exists()
