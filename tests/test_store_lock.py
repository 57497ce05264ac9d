"""One run per folder: a second run into a held --out is refused at once (or waits), a dead holder's lock is
taken over, and temporary files never share a name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ferbench import api
from ferbench.atomic import unique_tmp, write_json_atomic
from ferbench.cli import app
from ferbench.datasets import load_dataset
from ferbench.engine import EngineOptions
from ferbench.engine.lock import FolderBusy, RunLock, holder

HOLD = """
import sys, time
from ferbench.engine.lock import RunLock
lock = RunLock(sys.argv[1], command="holder")
lock.acquire()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
"""
MODEL = "fer-mini-xception"


def _holder(out: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture(scope="module")
def tiny(fer2013_root: Path):  # type: ignore[no-untyped-def]
    return load_dataset("fer2013-images", fer2013_root).select("PrivateTest", 8, 0)


def _run(ds, out: Path, model_store: Path, **kw):  # type: ignore[no-untyped-def]
    return api.run(
        ds,
        out=out,
        models=MODEL,
        model_store=model_store,
        options=EngineOptions(threads=1),
        write_report=False,
        **kw,
    )


def test_second_run_is_refused_then_a_killed_holder_is_taken_over(
    tiny, model_store: Path, tmp_path: Path, fer2013_root: Path
) -> None:
    out = tmp_path / "run"
    proc = _holder(out, 60)
    try:
        info = holder(out)
        assert info is not None and info["pid"] == proc.pid and info["command"] == "holder"
        t0 = time.perf_counter()
        with pytest.raises(FolderBusy, match=f"in use by ferbench pid {proc.pid} on "):
            _run(tiny, out, model_store)
        assert time.perf_counter() - t0 < 5  # fails fast, no waiting
        assert not (out / "parts").exists() and not (out / "metrics.json").exists()
        # The command line says the same in one line (exit status 2, no traceback).
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "ferbench.cli",
                "run",
                "--dataset",
                "fer2013-images",
                "--data-root",
                str(fer2013_root),
                "--out",
                str(out),
                "--models",
                MODEL,
                "--limit",
                "4",
                "--model-store",
                str(model_store),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 2, cli.stderr
        assert (
            "in use by ferbench pid" in cli.stderr
            and "--wait" in cli.stderr
            and "Traceback" not in cli.stderr
        )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # The holder died without releasing anything: the next run takes the folder over.
    res = _run(tiny, out, model_store)
    assert res.engine.total_computed == 8
    assert holder(out) is None  # released (emptied) at the end of the run


def test_wait_queues_behind_the_holder(tiny, model_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _holder(out, 2.0)
    t0 = time.perf_counter()
    res = _run(tiny, out, model_store, wait=True)
    waited = time.perf_counter() - t0
    proc.wait()
    assert proc.returncode == 0
    assert waited >= 1.0 and res.engine.total_computed == 8


def test_store_prune_takes_the_lock_too(tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out / "parts").mkdir(parents=True)
    with RunLock(out):
        proc = subprocess.run(
            [sys.executable, "-m", "ferbench.cli", "store", "prune", str(out)], capture_output=True, text=True
        )
    assert proc.returncode == 2 and f"pid {os.getpid()}" in proc.stderr
    assert CliRunner().invoke(app, ["store", "prune", str(out)]).exit_code == 0


def test_temporary_files_have_unique_names(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    assert len({unique_tmp(target) for _ in range(1000)}) == 1000
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(50):
                write_json_atomic({"writer": k, "i": i, "pad": "x" * 10000}, target)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    import json

    assert json.loads(target.read_text())["i"] == 49
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
