"""Command output that reads in a standard 80-column terminal, without the runtimes' log noise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PULLED = ROOT / ".cache" / "models"


def ferbench(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "ferbench.cli", *args], capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("columns", [80, 60])
def test_models_list_shows_whole_ids(columns: int, model_store: Path) -> None:
    p = ferbench("models", "list", "--model-store", str(model_store), columns=columns)
    assert p.returncode == 0, p.stderr
    ids = [r["id"] for r in json.loads(ferbench("models", "list", "--json").stdout)]
    lines = p.stdout.splitlines()
    for mid in ids:  # the id is what users type: never cut, never wrapped
        assert any(line.split()[:1] == [mid] for line in lines), mid
    assert max(len(line) for line in lines) <= columns


def test_predict_reads_at_80_columns_ensemble_first(model_store: Path, reference_dir: Path) -> None:
    img = sorted((reference_dir / "images").iterdir())[0]
    stores = os.pathsep.join([str(model_store), str(PULLED)])
    p = ferbench("predict", str(img), "--model-store", stores)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in p.stdout  # no label or id cut
    js = json.loads(ferbench("predict", str(img), "--model-store", stores, "--json").stdout)
    face = js["images"][0]["faces"][0]
    rows = [line.split() for line in lines if line.split() and line.split()[0] in {"ensemble", *js["models"]}]
    assert rows[0][0] == "ensemble" and rows[0][1].rstrip(",") == face["answer"]["label"]
    assert [r[0] for r in rows[1:]] == js["models"]
    assert [r[1] for r in rows[1:]] == [face["models"][m]["label"] for m in js["models"]]
    assert "facex-mobilenetv2" in js["models"]  # a LiteRT model ran ...
    assert "XNNPACK" not in p.stderr and "INFO:" not in p.stderr  # ... and its INFO line did not leak


def test_run_summary_shows_whole_ids_at_80_columns(
    fer2013_root: Path, model_store: Path, tmp_path: Path
) -> None:
    """The run's summary and prediction-set tables name every model whole (the longest zoo id is 38
    characters) in 80 columns."""
    models = "facial-emotion-recognition-networkv2,omz-emotions-recognition-retail-0003"
    p = ferbench(
        "run", "--dataset", "fer2013-images", "--data-root", str(fer2013_root), "--split", "PrivateTest",
        "--limit", "12", "--models", models, "--model-store", str(model_store), "--out", str(tmp_path / "r"),
        "--calibrate-on", "PublicTest", "--conformal", "0.8",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in p.stdout
    sets_at = next(i for i, line in enumerate(lines) if "80 % prediction sets" in line)
    for mid in models.split(","):
        # whole, on one line, with its numbers: once in the summary, once in the sets table
        rows = [i for i, line in enumerate(lines) if mid in line.split()[:1] and "%" in line]
        assert len(rows) == 2 and rows[0] < sets_at < rows[1], mid
