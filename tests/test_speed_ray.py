"""The Ray engine, on a local two-worker Ray instance, writes exactly what the local engine writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ferbench
from ferbench.datasets import load_dataset
from ferbench.engine import EngineOptions, PredictionStore, run_models
from ferbench.models import resolve_models

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ferbench[ray]')")


@pytest.fixture(scope="module")
def ray_two_workers():  # type: ignore[no-untyped-def]
    src = str(Path(ferbench.__file__).resolve().parents[1])  # workers import this checkout's ferbench
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": src}},
    )
    yield
    ray.shutdown()


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["model_id", "sample_id"]).reset_index(drop=True)


def test_ray_engine_matches_local_engine(
    ray_two_workers, fer2013_root: Path, model_store: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from ferbench.engine.ray_engine import run_models_ray

    ds = load_dataset("fer2013-images", fer2013_root).select("test", 100, seed=5)
    cards = resolve_models("all", model_store)
    local = PredictionStore(tmp_path / "local")
    run_models(ds, cards, local, model_store=model_store)

    remote = PredictionStore(tmp_path / "ray")
    seen: list[int] = []
    report = run_models_ray(
        ds,
        cards,
        remote,
        model_store=model_store,
        options=EngineOptions(chunk_size=16),
        workers=2,
        shard_size=25,
        progress=lambda total, n: seen.append,
    )
    assert report.computed == {c.id: 100 for c in cards} and report.device == "cpu"
    assert sum(seen) == 100 * len(cards)
    # 4 shards × every model: one part per (shard, model), written by the driver.
    assert len(list(remote.parts_dir.rglob("*.parquet"))) == 4 * len(cards)
    pd.testing.assert_frame_equal(_sorted(local.read()), _sorted(remote.read()))

    # Resume on Ray: nothing left to do, every row reused, no new part.
    again = run_models_ray(ds, cards, remote, model_store=model_store, workers=2)
    assert again.total_computed == 0 and again.reused == {c.id: 100 for c in cards}
    assert len(list(remote.parts_dir.rglob("*.parquet"))) == 4 * len(cards)


def test_ray_engine_runs_the_transform_on_the_workers(
    ray_two_workers, fer2013_root: Path, model_store: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from ferbench.engine.ray_engine import run_models_ray
    from ferbench.errors import SampleError

    ds = load_dataset("fer2013-images", fer2013_root).select("test", 24, seed=6)
    drop = set(ds.samples["sample_id"].iloc[::7])

    def transform(img: np.ndarray, row: pd.Series) -> np.ndarray:
        if row["sample_id"] in drop:
            raise SampleError("no_face", f"{row['path']}: no face found")
        return img[4:44, 4:44]

    cards = resolve_models("all", model_store)[:1]
    opts = EngineOptions(variant="crop40")
    local = PredictionStore(tmp_path / "local")
    run_models(ds, cards, local, model_store=model_store, options=opts, transform=transform)
    remote = PredictionStore(tmp_path / "ray")
    run_models_ray(ds, cards, remote, model_store=model_store, options=opts, transform=transform, workers=2)
    got = _sorted(remote.read(variant="crop40"))
    pd.testing.assert_frame_equal(_sorted(local.read(variant="crop40")), got)
    assert set(got.loc[got["status"] == "no_face", "sample_id"]) == drop


def test_cli_engine_ray(ray_two_workers, fer2013_root: Path, model_store: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from ferbench.cli import app

    args = [
        "run", "--dataset", "fer2013-images", "--data-root", str(fer2013_root), "--split", "test",
        "--limit", "24", "--models", "oarriaga-mini-xception-119", "--model-store", str(model_store),
        "--perturb", "blur:2",
    ]  # fmt: skip
    res = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]
    )
    assert res.exit_code == 0, res.output
    assert (
        json.loads((tmp_path / "ray" / "metrics.json").read_text())["provenance"]["engine"]["name"] == "ray"
    )
    # the clean and the perturbed variant were both computed on the cluster, identical to the local engine's
    local = ferbench.run(
        "fer2013-images", data_root=fer2013_root, split="test", limit=24, out=tmp_path / "local",
        models="oarriaga-mini-xception-119", model_store=model_store, perturb="blur:2",
    )  # fmt: skip
    assert local.metrics["provenance"]["engine"]["name"] == "local"
    ray_rows = PredictionStore(tmp_path / "ray").read(variant=None)
    assert set(ray_rows["variant"]) == {"clean", "clean+blur:2"}
    keys = ["variant", "model_id", "sample_id"]
    local_rows = PredictionStore(tmp_path / "local").read(variant=None)
    pd.testing.assert_frame_equal(
        local_rows.sort_values(keys).reset_index(drop=True), ray_rows.sort_values(keys).reset_index(drop=True)
    )
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x"), "--engine", "spark"])
    assert res.exit_code != 0 and "unknown engine 'spark'" in str(res.exception)
