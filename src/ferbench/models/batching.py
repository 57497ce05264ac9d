"""Dynamic batch for models exported with batch size 1, used only after a bit-for-bit check.

Several zoo files are exported with a batch of one (YOLO11n's ONNX graph, facex's TFLite file, OpenCV Zoo's
MobileFaceNet, OMZ's IR). On a CPU that costs little (these models are compute-bound), but on a GPU a
batch-1 model is bound by kernel launches. Lifting the batch is a graph edit, and an edit can be wrong in
ways that still run (a reshape that folds two images into one tensor mixes them), so every lifted model is
*proved* before use: the same distinct inputs are run one at a time on the original file and together on
the lifted one, on the CPU, and the lifted model is used only when every output bit is equal. GPU kernels
differ in the last bits at any batch size, so the proof belongs on the CPU, once per weight file.

* ONNX (:func:`dynamic_batch_onnx`): the leading dimension of every graph input and output becomes the
  symbolic ``batch``; the inferred shapes in ``value_info`` (which still say 1) are dropped; every constant
  ``Reshape`` target that starts with 1 gets 0 there ("copy the input's leading dimension", valid when
  ``allowzero`` is 0) or -1 (when ``allowzero`` is 1 and no other -1 is present). The rewritten file and its
  verdict are cached under ``<cache>/batching/<weight sha256>/``, the verdict keyed by the ONNX Runtime
  version it was proved with and the batch sizes it covers; a verdict that failed is cached too, and the
  model then runs one image per call with a note saying why.
* LiteRT (:func:`litert_batch_verdict`): ``resize_tensor_input`` to (n, ...) then ``allocate_tensors``;
  the same proof, against one-image invokes of the file as shipped.
* OpenVINO IR (:func:`openvino_batch_verdict`): ``Model.reshape`` with a dynamic leading dimension before
  compilation; the same proof, against the IR compiled as shipped.

The proof's inputs are seeded random images pushed through the model's own preprocessing, distinct per
position (a batch of identical images would hide a reshape that mixes samples).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_bytes_atomic
from ..hashing import sha256_bytes, sha256_file
from .cards import Preprocess
from .preprocess import preprocess_batch

BATCH_DIM = "batch"
VERDICT_VERSION = 1  # bump when the rewrite or the proof changes: old verdicts are then ignored
CACHE_ENV = "FERBENCH_CACHE"
DEFAULT_CACHE = Path.home() / ".cache" / "ferbench"
#: Batch sizes every proof covers besides the run's own. A lifted model is only ever called at proved sizes
#: (:func:`split_sizes` cuts any batch into them), so 1 must be among them; 2, 3 and 5 cover odd tails cheaply.
PROOF_SIZES = (1, 2, 3, 5, 8)


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$FERBENCH_CACHE``, else ``~/.cache/ferbench``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else DEFAULT_CACHE


@dataclass(frozen=True)
class BatchVerdict:
    """Whether a lifted model gave every output bit of the original, and under what it was proved."""

    ok: bool
    weight_sha256: str
    sizes: tuple[int, ...]  # the batch sizes that were checked
    runtime: str  # "onnxruntime 1.32.0", "ai-edge-litert 2.3.0"
    detail: str  # what was rewritten, or why the proof failed
    lifted_sha256: str = ""  # the rewritten file's digest (ONNX), checked before it is loaded again
    version: int = VERDICT_VERSION

    def covers(self, sizes: Sequence[int], runtime: str) -> bool:
        return self.version == VERDICT_VERSION and self.runtime == runtime and set(sizes) <= set(self.sizes)


def proof_sizes(batch: int) -> tuple[int, ...]:
    """The batch sizes a proof for a run at ``batch`` images per call checks."""
    return tuple(sorted({*PROOF_SIZES, max(1, batch)}))


def split_sizes(n: int, sizes: Sequence[int]) -> list[tuple[int, int]]:
    """(start, stop) pieces of a batch of ``n``, each of a size in ``sizes`` (largest first, greedy).

    With 1 among ``sizes`` every ``n`` splits exactly; otherwise a remainder smaller than every size is left
    as one piece (the old behaviour of a card's ``fixed_batch``).
    """
    out, i = [], 0
    ordered = sorted(set(sizes), reverse=True)
    while i < n:
        step = next((s for s in ordered if s <= n - i), n - i)
        out.append((i, i + step))
        i += step
    return out


def proof_inputs(pre: Preprocess, n: int, seed: int = 0) -> np.ndarray:
    """``n`` distinct seeded images (random noise over a smooth gradient) through the model's preprocessing."""
    rng = np.random.default_rng(seed)
    h, w = max(pre.size[0], 48), max(pre.size[1], 48)
    ramp = np.linspace(0, 255, w)[None, :, None] * np.linspace(0.3, 1.0, h)[:, None, None]
    imgs = [
        np.clip(ramp * rng.uniform(0.5, 1.0) + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
        for _ in range(n)
    ]
    return preprocess_batch(imgs, pre)


def check_batched(
    run_one: Callable[[np.ndarray], Sequence[np.ndarray]],
    run_many: Callable[[np.ndarray], Sequence[np.ndarray]],
    x: np.ndarray,
    sizes: Sequence[int],
) -> str | None:
    """None when, for each size, ``run_many`` on ``x[:size]`` equals ``run_one`` per image bit for bit.

    Both callables return every output of the model (a list of arrays with a leading batch dimension); the
    comparison is ``np.array_equal`` on all of them, so NaNs or a single flipped last bit fail it.
    """
    singles = [run_one(x[i : i + 1]) for i in range(max(sizes))]
    for size in sizes:
        got = run_many(x[:size])
        for k, out in enumerate(got):
            want = np.concatenate([s[k] for s in singles[:size]])
            out = np.asarray(out)
            if out.shape != want.shape:
                return f"output {k} at batch {size} has shape {out.shape}, batch 1 gives {want.shape}"
            if not np.array_equal(out, want):
                diff = float(np.abs(out.astype(np.float64) - want.astype(np.float64)).max())
                return f"output {k} at batch {size} differs from batch 1 (max |diff| {diff:.3g})"
    return None


# ------------------------------------------------------------------------------------------------ ONNX
def onnx_fixed_batch(path: str | os.PathLike[str]) -> int | None:
    """The fixed leading dimension of an ONNX file's first graph input, or None when it is symbolic."""
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    dims = _graph_inputs(model)[0].type.tensor_type.shape.dim
    return int(dims[0].dim_value) if dims and dims[0].HasField("dim_value") else None


def _graph_inputs(model: Any) -> list[Any]:
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def dynamic_batch_onnx(model: Any) -> tuple[Any, list[str]]:
    """A copy of ``model`` with a symbolic batch dimension, and a list of what was changed.

    Raises ``ValueError`` when a constant reshape target starting with 1 cannot be made batch-agnostic.
    """
    import onnx
    from onnx import numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    changes: list[str] = []
    for v in [*_graph_inputs(out), *g.output]:
        dims = v.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            was = dims[0].dim_value
            dims[0].Clear()
            dims[0].dim_param = BATCH_DIM
            changes.append(f"{v.name}: leading {was} -> {BATCH_DIM}")
    del g.value_info[:]  # shapes inferred for batch 1; the runtime infers them again

    inits = {t.name: t for t in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant" and n.attribute}
    users: dict[str, int] = {}
    for n in g.node:
        for name in n.input:
            users[name] = users.get(name, 0) + 1
    for n in g.node:
        if n.op_type != "Reshape" or len(n.input) < 2:
            continue
        name = n.input[1]
        if name in inits:
            target = numpy_helper.to_array(inits[name])
        elif name in consts and consts[name].attribute[0].name == "value":
            target = numpy_helper.to_array(consts[name].attribute[0].t)
        else:
            continue  # computed at run time (Shape -> Gather -> Concat): already follows the batch
        if target.ndim != 1 or len(target) < 2 or target[0] != 1:
            continue
        allowzero = any(a.name == "allowzero" and a.i == 1 for a in n.attribute)
        new = target.copy()
        if not allowzero:
            new[0] = 0
        elif -1 not in target:
            new[0] = -1
        else:
            raise ValueError(f"Reshape {n.name!r}: target {target.tolist()} with allowzero=1 and a -1")
        fresh = f"{name}__{BATCH_DIM}" if users.get(name, 0) > 1 else name
        tensor = numpy_helper.from_array(new.astype(target.dtype), fresh)
        if fresh == name and name in inits:
            inits[name].CopyFrom(tensor)
        elif fresh == name:
            consts[name].attribute[0].t.CopyFrom(tensor)
        else:
            if fresh not in {t.name for t in g.initializer}:
                g.initializer.append(tensor)
            n.input[1] = fresh
        changes.append(f"Reshape {n.name}: {target.tolist()} -> {new.tolist()}")
    onnx.checker.check_model(out)
    return out, changes


def _ort_runtime() -> str:
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__}"


def _ort_runner(source: str | bytes) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A single-threaded CPU session returning every output (the proof always runs on the CPU)."""
    import onnxruntime as ort

    from .runtime import session_options

    sess = ort.InferenceSession(source, sess_options=session_options(1), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: [np.asarray(o) for o in sess.run(None, {name: x})]


def _read_verdict(path: Path) -> BatchVerdict | None:
    try:
        d = json.loads(path.read_text())
        d["sizes"] = tuple(d["sizes"])
        return BatchVerdict(**d)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _cached_verdict(
    verdict_path: Path, weight_sha256: str, batch: int, runtime: str
) -> tuple[BatchVerdict | None, tuple[int, ...]]:
    """(the stored verdict when it covers ``batch``'s sizes under ``runtime``, else None; the sizes to prove).

    Sizes an earlier proof held for are proved again with the new ones, so one verdict file keeps covering
    every batch size a run of this weight file has used.
    """
    sizes = proof_sizes(batch)
    cached = _read_verdict(verdict_path)
    hit = cached is not None and cached.weight_sha256 == weight_sha256 and cached.covers(sizes, runtime)
    sizes = tuple(sorted({*sizes, *(cached.sizes if cached and cached.ok else ())}))
    return (cached if hit else None), sizes


def _record(verdict_path: Path, verdict: BatchVerdict) -> BatchVerdict:
    write_bytes_atomic(json.dumps(asdict(verdict), indent=1).encode(), verdict_path)
    return verdict


def _proved(
    verdict_name: str,
    weight_sha256: str,
    batch: int,
    runtime: str,
    cache_dir: str | os.PathLike[str] | None,
    pre: Preprocess,
    runners: Callable[[], tuple[Callable[[np.ndarray], Any], Callable[[np.ndarray], Any]]],
    how: str,
    failure: str,
) -> BatchVerdict:
    """The cached verdict for this weight file, or prove the batched runner equal to the batch-1 one on
    seeded inputs and record that verdict.

    ``runners()`` builds (batch 1, batched) only when a proof is needed; any exception, there or while
    running, is the reason the model stays at batch 1 (``failure``: what was tried). ``how`` is the detail of
    a verdict that holds.
    """
    verdict_path = cache_root(cache_dir) / "batching" / weight_sha256 / verdict_name
    cached, sizes = _cached_verdict(verdict_path, weight_sha256, batch, runtime)
    if cached is not None:
        return cached
    try:
        run_one, run_many = runners()
        problem = check_batched(run_one, run_many, proof_inputs(pre, max(sizes)), sizes)
    except Exception as exc:  # noqa: BLE001 - a model that refuses the change runs at batch 1
        problem = f"{failure}: {type(exc).__name__}: {exc}"
    return _record(
        verdict_path,
        BatchVerdict(
            ok=problem is None,
            weight_sha256=weight_sha256,
            sizes=sizes,
            runtime=runtime,
            detail=how if problem is None else problem,
        ),
    )


def lifted_onnx(
    weights: Path,
    weight_sha256: str,
    pre: Preprocess,
    batch: int,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[Path | None, BatchVerdict]:
    """The dynamic-batch rewrite of a batch-1 ONNX file, proved for ``batch``, or None and the reason.

    A cached verdict is reused when it covers the sizes and the ONNX Runtime version; a cached rewritten
    file is used only when its sha256 is the one the verdict recorded.
    """
    folder = cache_root(cache_dir) / "batching" / weight_sha256
    lifted, verdict_path = folder / "dynamic_batch.onnx", folder / "verdict.json"
    runtime = _ort_runtime()
    cached, sizes = _cached_verdict(verdict_path, weight_sha256, batch, runtime)
    if cached is not None:
        if not cached.ok:
            return None, cached
        if lifted.is_file() and sha256_file(lifted) == cached.lifted_sha256:
            return lifted, cached
    import onnx

    try:
        model, changes = dynamic_batch_onnx(onnx.load(os.fspath(weights)))
        data = model.SerializeToString()
        x = proof_inputs(pre, max(sizes))
        problem = check_batched(_ort_runner(os.fspath(weights)), _ort_runner(data), x, sizes)
    except Exception as exc:  # noqa: BLE001 - any failure of the rewrite means: run at batch 1
        data, changes, problem = b"", [], f"rewrite failed: {type(exc).__name__}: {exc}"
    ok = problem is None
    verdict = BatchVerdict(
        ok=ok,
        weight_sha256=weight_sha256,
        sizes=sizes,
        runtime=runtime,
        detail="; ".join(changes) if ok else str(problem),
        lifted_sha256=sha256_bytes(data) if ok else "",
    )
    if ok:
        write_bytes_atomic(data, lifted)
    _record(verdict_path, verdict)
    return (lifted if ok else None), verdict


# ---------------------------------------------------------------------------------------------- LiteRT
def litert_runtime() -> str:
    from importlib.metadata import version

    return f"ai-edge-litert {version('ai-edge-litert')}"


def litert_batch_verdict(
    factory: Callable[[], Any],
    weight_sha256: str,
    pre: Preprocess,
    batch: int,
    cache_dir: str | os.PathLike[str] | None = None,
) -> BatchVerdict:
    """Whether ``resize_tensor_input`` to (n, ...) gives every bit of one-image invokes, for ``batch``.

    ``factory`` builds a fresh interpreter on the file as shipped (not yet allocated).
    """
    return _proved(
        "verdict-litert.json",
        weight_sha256,
        batch,
        litert_runtime(),
        cache_dir,
        pre,
        lambda: (_litert_runner(factory, None), _litert_runner(factory, "resize")),
        "resize_tensor_input on the leading dimension",
        "resize_tensor_input failed",
    )


def _litert_runner(factory: Callable[[], Any], mode: str | None) -> Callable[[np.ndarray], list[np.ndarray]]:
    interp = factory()
    if mode is None:
        interp.allocate_tensors()
    state: dict[str, int] = {"n": 1 if mode is None else 0}

    def run(x: np.ndarray) -> list[np.ndarray]:
        inp = interp.get_input_details()[0]
        if state["n"] != len(x):
            resize_litert(interp, len(x))
            state["n"] = len(x)
            inp = interp.get_input_details()[0]
        interp.set_tensor(inp["index"], x.astype(inp["dtype"]))
        interp.invoke()
        return [np.array(interp.get_tensor(o["index"])) for o in interp.get_output_details()]

    return run


def resize_litert(interp: Any, n: int) -> None:
    """Give a TFLite interpreter's first input a leading dimension of ``n`` and reallocate its tensors."""
    inp = interp.get_input_details()[0]
    shape = list(inp["shape"])
    shape[0] = n
    interp.resize_tensor_input(inp["index"], shape, strict=False)
    interp.allocate_tensors()


# -------------------------------------------------------------------------------------------- OpenVINO
def reshape_openvino(model: Any) -> None:
    """Give an OpenVINO model's first input a dynamic leading dimension (before ``compile_model``)."""
    import openvino as ov

    port = model.inputs[0]
    shape = port.get_partial_shape()
    dims = [ov.Dimension(-1)] + [shape[i] for i in range(1, shape.rank.get_length())]
    model.reshape({port: ov.PartialShape(dims)})


def openvino_batch_verdict(
    xml: Path,
    bin_file: Path,
    weight_sha256: str,
    pre: Preprocess,
    batch: int,
    cache_dir: str | os.PathLike[str] | None = None,
) -> BatchVerdict:
    """Whether :func:`reshape_openvino` gives every bit of the IR as shipped, one image per call, on the CPU."""
    import openvino as ov

    def runner(dynamic: bool) -> Callable[[np.ndarray], list[np.ndarray]]:
        core = ov.Core()
        model = core.read_model(str(xml), str(bin_file))
        if dynamic:
            reshape_openvino(model)
        request = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1}).create_infer_request()
        return lambda x: [np.array(v) for v in request.infer([np.ascontiguousarray(x)]).values()]

    return _proved(
        "verdict-openvino.json",
        weight_sha256,
        batch,
        f"openvino {ov.get_version()}",
        cache_dir,
        pre,
        lambda: (runner(False), runner(True)),
        "Model.reshape with a dynamic leading dimension",
        "reshape failed",
    )
