"""Failure isolation: one sample's exception is that sample's recorded failure, an abort keeps what was computed,
non-image entries are listed, a prediction with no mass on the evaluated labels has its own status, and a run
killed (kill -9) at several points resumes to predictions bit-identical to an uninterrupted run, on FER2013
images and on the real videos of ``shared/data/videos`` (a face that leaves the frame, one that enters)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ferbench.cli import app
from ferbench.datasets import load_dataset
from ferbench.datasets.check import check_dataset
from ferbench.engine import EngineOptions, PredictionStore, run_models
from ferbench.evaluate import NO_LABEL_MASS, evaluate
from ferbench.models import Adapter, registry

A, B = "fer-mini-xception", "oarriaga-mini-xception-119"
MODELS = f"{A},{B}"
VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


@pytest.fixture(scope="module")
def small(fer2013_root: Path):  # type: ignore[no-untyped-def]
    return load_dataset("fer2013-images", fer2013_root).select("PrivateTest", 24, 0)


def _scored(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["sample_id", "model_id", "status", "error", *[c for c in df.columns if c.startswith("p_")]]
    return df[cols].sort_values(["model_id", "sample_id"]).reset_index(drop=True)


def test_a_transform_raising_value_error_fails_that_sample_only(
    small, model_store: Path, tmp_path: Path
) -> None:
    bad = small.samples["sample_id"].iloc[5]

    def transform(img: np.ndarray, row: pd.Series) -> np.ndarray:
        if row["sample_id"] == bad:
            raise ValueError("this perturbation cannot handle that image")
        return img

    cards = [registry.get_card(A), registry.get_card(B)]
    opts = EngineOptions(chunk_size=8, batch_size=4, threads=1, variant="same-pixels")
    store = PredictionStore(tmp_path / "run")
    rep = run_models(small, cards, store, model_store=model_store, options=opts, transform=transform)
    assert rep.computed == {A: 24, B: 24}
    rows = _scored(store.read())
    failed = rows[rows["sample_id"] == bad]
    assert set(failed["status"]) == {"exception"}
    assert all(
        "ValueError: this perturbation cannot handle that image" in e and bad in e for e in failed["error"]
    )
    assert failed.filter(like="p_").isna().all().all()
    # Every other sample is scored exactly as without the transform (the oracle: a plain run).
    plain = PredictionStore(tmp_path / "plain")
    run_models(small, cards, plain, model_store=model_store, options=EngineOptions(chunk_size=8, threads=1))
    ok = rows[rows["sample_id"] != bad].reset_index(drop=True)
    ref = _scored(plain.read())
    ref = ref[ref["sample_id"] != bad].reset_index(drop=True)
    assert (ok["status"] == "ok").all()
    pd.testing.assert_frame_equal(ok, ref, check_exact=True)


def test_an_abort_writes_every_chunk_already_computed(
    small, model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = Adapter.infer

    def flaky(self: Adapter, batch: np.ndarray) -> np.ndarray:
        if self.card.id == B:
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("the runtime fell over")
        return real(self, batch)

    monkeypatch.setattr(Adapter, "infer", flaky)
    cards = [registry.get_card(A), registry.get_card(B)]
    opts = EngineOptions(chunk_size=8, batch_size=8, threads=1, inference_workers=1)
    store = PredictionStore(tmp_path / "run")
    with pytest.raises(RuntimeError, match="fell over"):
        run_models(small, cards, store, model_store=model_store, options=opts)
    got = store.read()
    # Chunks 0 and 1 of both models and chunk 2 of the model that did not fail are on disk.
    assert got.groupby("model_id").size().to_dict() == {A: 24, B: 16}
    monkeypatch.setattr(Adapter, "infer", real)
    resumed = run_models(small, cards, store, model_store=model_store, options=opts)
    assert resumed.computed == {A: 0, B: 8}
    fresh = PredictionStore(tmp_path / "fresh")
    run_models(small, cards, fresh, model_store=model_store, options=opts)
    pd.testing.assert_frame_equal(_scored(store.read()), _scored(fresh.read()), check_exact=True)


def test_entries_that_are_not_images_are_listed_as_skipped(
    fer2013_root: Path, model_store: Path, tmp_path: Path
) -> None:
    root = tmp_path / "faces"
    (root / "happy").mkdir(parents=True)
    for p in sorted((fer2013_root / "test" / "happy").glob("*.jpg"))[:3]:
        shutil.copyfile(p, root / "happy" / p.name)
    (root / "happy" / "x.jpg").mkdir()  # a directory named like an image
    (root / "happy" / "gone.png").symlink_to(tmp_path / "nowhere.png")  # a broken symbolic link
    ds = load_dataset("image-folder", root)
    assert len(ds) == 3
    skipped = ds.excluded[ds.excluded["reason"] == "not_a_file"]
    assert sorted(Path(w).name for w in skipped["where"]) == ["gone.png", "x.jpg"]
    assert any("broken symbolic link" in d for d in skipped["detail"])
    rep = check_dataset(ds)
    assert rep.problems["skipped_entries"] == 2
    assert sorted(Path(r["where"]).name for r in rep.skipped) == ["gone.png", "x.jpg"]
    runner = CliRunner()
    chk = runner.invoke(app, ["datasets", "check", "image-folder", "--data-root", str(root)])
    assert chk.exit_code == 1 and "x.jpg" in chk.output and "gone.png" in chk.output
    out = runner.invoke(
        app,
        ["run", "--dataset", "image-folder", "--data-root", str(root), "--out", str(tmp_path / "run"),
         "--models", A, "--model-store", str(model_store)],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "not_a_file 2" in out.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["excluded"] == {"not_a_file": 2}


def test_a_directory_named_like_a_clip_is_listed_as_skipped(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    (root / "happy").mkdir(parents=True)
    (root / "happy" / "single_face.mp4").symlink_to(VIDEOS / "single_face.mp4")
    (root / "happy" / "clip.mp4").mkdir()
    (root / "happy" / "gone.mov").symlink_to(tmp_path / "nowhere.mov")
    ds = load_dataset("video-folder", root)
    assert set(ds.samples["clip_id"]) == {"happy/single_face.mp4"}
    assert sorted(Path(w).name for w in ds.excluded["where"]) == ["clip.mp4", "gone.mov"]
    assert set(ds.excluded["reason"]) == {"not_a_file"}


def test_no_mass_on_the_evaluated_labels_has_its_own_status(small, model_store: Path, tmp_path: Path) -> None:
    card = registry.get_card(A)
    store = PredictionStore(tmp_path / "run")
    run_models(small, [card], store, model_store=model_store)
    preds = store.read()
    # Two evaluated labels; on three samples the model put all its mass elsewhere (as NetworkV2 did on
    # seven frames of a neutral-vs-happy video).
    preds.loc[preds.index[:3], ["p_neutral", "p_happy"]] = 0.0
    samples = small.samples.assign(label=np.where(np.arange(len(small)) % 2, "happy", "neutral"))
    m, ev = evaluate(preds, samples, [card], ("neutral", "happy"))
    sec = m["models"][A]
    assert sec["failures"] == {NO_LABEL_MASS: 3}
    assert "ok" not in sec["failures"]
    assert sec["n"] == 21 and sec["n_failed"] == 3
    assert (ev.status[:3, 0] == NO_LABEL_MASS).all() and (ev.pred[:3, 0] == -1).all()


# ---- kill -9 at several points, then resume: bit-identical predictions --------------------------------------

SCRIPT = """
import json, sys
from ferbench import api
from ferbench.engine import EngineOptions
kw = json.loads(sys.argv[1])
opts = EngineOptions(**kw.pop("options"))
api.run(kw.pop("dataset"), options=opts, write_report=False, **kw)
"""


def _parts(out: Path) -> int:
    return len(list((out / "parts").rglob("part-*.parquet"))) if (out / "parts").exists() else 0


def _run_and_kill(kw: dict, out: Path, kill_after: int) -> bool:
    """Start the run in a subprocess and kill -9 it once ``kill_after`` prediction parts exist (True if killed)."""
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, json.dumps({**kw, "out": str(out)})])
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if _parts(out) >= kill_after:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def _kill_resume_compare(kw: dict, tmp_path: Path, kill_points: list[int], total_parts: int) -> None:
    out = tmp_path / "killed"
    seen = []
    for k in kill_points:
        assert _run_and_kill(kw, out, k), f"the run finished before {k} parts; make it longer"
        n = _parts(out)
        assert n < total_parts
        seen.append(n)
        for p in (out / "parts").rglob("*.parquet"):  # every part on disk is whole
            pd.read_parquet(p)
    assert seen == sorted(seen) and seen[0] < seen[-1]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps({**kw, "out": str(out)})], timeout=300)
    assert proc.returncode == 0
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps({**kw, "out": str(tmp_path / "fresh")})], timeout=300
    )
    assert proc.returncode == 0
    killed = pd.read_parquet(out / "predictions.parquet")
    fresh = pd.read_parquet(tmp_path / "fresh" / "predictions.parquet")
    keys = ["sample_id", "model_id", "variant"]
    killed = killed.sort_values(keys).reset_index(drop=True)
    fresh = fresh.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(killed, fresh, check_exact=True)
    m1 = json.loads((out / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "fresh" / "metrics.json").read_text())
    assert m1["models"] == m2["models"] and m1["agreement"] == m2["agreement"]


def test_kill_9_at_several_points_on_images_resumes_bit_identical(
    fer2013_root: Path, model_store: Path, tmp_path: Path
) -> None:
    kw = {
        "dataset": "fer2013-images",
        "data_root": str(fer2013_root),
        "models": MODELS,
        "split": "PrivateTest",
        "limit": 96,
        "model_store": str(model_store),
        "options": {"chunk_size": 8, "batch_size": 4, "threads": 1},
    }
    _kill_resume_compare(kw, tmp_path, [2, 7, 14], total_parts=24)


def test_kill_9_at_several_points_on_real_videos_resumes_bit_identical(
    model_store: Path, tmp_path: Path
) -> None:
    # Two real clips, one per class folder: a face that leaves the frame and one that enters it.
    root = tmp_path / "videos"
    for label, clip in (("neutral", "face_noface.mov"), ("happy", "noface_face.mov")):
        (root / label).mkdir(parents=True)
        (root / label / clip).symlink_to(VIDEOS / clip)
    kw = {
        "dataset": "video-folder",
        "data_root": str(root),
        "models": MODELS,
        "model_store": str(model_store),
        "faces": "yunet",
        "dataset_options": {"fps": 4},
        "options": {"chunk_size": 4, "batch_size": 2, "threads": 1},
    }
    # 2 clips x ~26 frames at 4 fps, chunks of 4: about 14 chunks x 2 models = 28 prediction parts.
    _kill_resume_compare(kw, tmp_path, [1, 6, 14], total_parts=28)
    preds = pd.read_parquet(tmp_path / "killed" / "predictions.parquet")
    status = preds.groupby("clip_id")["status"].agg(lambda s: set(s))
    assert status.map(lambda s: {"ok", "no_face"} <= s).all()  # faces found and lost in both clips
