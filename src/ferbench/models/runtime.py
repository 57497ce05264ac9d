"""Inference runtimes: ONNX Runtime for almost everything, LiteRT for TFLite files whose ONNX conversion is wrong,
OpenVINO for Intel's IR files (``.xml`` + ``.bin``), which have no faithful ONNX export.

Sessions are built only when a model is first used (never at import), with options chosen on purpose:

* graph optimisations at ``ORT_ENABLE_ALL`` (constant folding and conv+bn+activation fusion; the FER models
  are small CNNs where fusion is most of the gain), quiet logging (some converted graphs warn once per
  initializer);
* an intra-op thread count the engine decides. On CPU the engine prefers one thread per session call and
  several calls in flight (one per core): these models are too small for intra-op parallelism to pay, and
  measured throughput on 2 cores is higher that way (see ``docs/performance.md``);
* intra-op spinning off: spinning threads burn the cores the decoder and the other calls need;
* the CPU memory arena on: per-call activation buffers are reused instead of allocated again for each batch.

``resolve_device`` decides once per run whether ``cuda`` can be honoured; when it cannot, the run goes on on
the CPU and the caller prints the reason.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ModelError

DEVICES = ("cpu", "cuda")


class Session(Protocol):
    def run(self, batch: np.ndarray) -> np.ndarray: ...


def cuda_available() -> bool:
    """True when the installed ONNX Runtime has the CUDA execution provider (``onnxruntime-gpu``)."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def resolve_device(device: str) -> tuple[str, str | None]:
    """Return (the device to use, a message saying why it differs from the request, or None).

    ``cuda`` without a CUDA-enabled ONNX Runtime falls back to ``cpu``: a benchmark that silently stops is
    worse than one that runs slower and says so.
    """
    if device not in DEVICES:
        raise ModelError(f"unknown device '{device}'; use one of: {', '.join(DEVICES)}")
    if device == "cuda" and not cuda_available():
        import onnxruntime as ort

        return "cpu", (
            "device 'cuda' requested but this onnxruntime "
            f"({ort.__version__}, providers: {', '.join(ort.get_available_providers())}) has no "
            "CUDAExecutionProvider; running on the CPU instead (install onnxruntime-gpu for CUDA)"
        )
    return device, None


def session_options(threads: int):  # type: ignore[no-untyped-def]
    """The ``SessionOptions`` every ferbench ONNX session uses (see the module docstring for why)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_cpu_mem_arena = True
    opts.enable_mem_pattern = True
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def is_openvino_ir(path: Path) -> bool:
    """True for an OpenVINO IR description (XML), which ONNX Runtime would reject with a protobuf error."""
    if path.suffix.lower() == ".xml":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(64).lstrip()
    except OSError:
        return False
    return head.startswith(b"<?xml") or head.startswith(b"<net")


class OnnxSession:
    """An ONNX Runtime session; ``run`` may be called from several threads at once (ORT allows it)."""

    def __init__(
        self,
        path: Path,
        *,
        input_name: str | None,
        output_name: str | None,
        threads: int = 0,
        device: str = "cpu",
        model_id: str = "",
    ) -> None:
        import onnxruntime as ort

        if is_openvino_ir(path):
            who = f"model '{model_id}': " if model_id else ""
            raise ModelError(
                f"{who}'{path}' is an OpenVINO IR file, not ONNX; give its card runtime='openvino' "
                "(and `pip install 'ferbench[openvino]'`)"
            )

        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if not cuda_available():
                raise ModelError(
                    "device 'cuda' requested but this onnxruntime has no CUDAExecutionProvider; "
                    "install onnxruntime-gpu or use --device cpu"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        self.device = device
        self._sess = ort.InferenceSession(
            str(path), sess_options=session_options(threads), providers=providers
        )
        self._input = input_name or self._sess.get_inputs()[0].name
        self._output = output_name or self._sess.get_outputs()[0].name
        shape = next(i.shape for i in self._sess.get_inputs() if i.name == self._input)
        self.input_shape = [d if isinstance(d, int) else "N" for d in shape]

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._sess.run([self._output], {self._input: batch})[0])


#: What TFLite's C++ core prints on stderr whenever an interpreter applies its default CPU delegate: an INFO
#: line with nothing for the user to do, which would otherwise appear in every command's output.
LITERT_NOISE = (b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet_litert() -> Iterator[None]:
    """Hide TFLite's INFO line (:data:`LITERT_NOISE`) written to file descriptor 2; pass anything else on.

    The C++ core writes to the descriptor, not to ``sys.stderr``, so the descriptor is pointed at a temporary
    file while an interpreter is built, and every other line (a real warning or error) is written back.
    """
    with _STDERR_LOCK, tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().splitlines(keepends=True) if line.strip() not in LITERT_NOISE]
            if kept:
                os.write(2, b"".join(kept))


class LiteRTSession:
    """TFLite interpreters from ``ai-edge-litert``.

    The file's batch is 1. With ``batched`` set (a proof in :mod:`~ferbench.models.batching` found
    ``resize_tensor_input`` bit-identical), a batch of n is one invoke on an interpreter resized to n;
    otherwise each image is its own invoke. A TFLite interpreter is not safe to call from two threads, so
    each calling thread gets its own (built lazily, one per batch size; they are small), which lets the
    engine keep several calls in flight like with ONNX.
    """

    def __init__(self, path: Path, *, threads: int = 0, model_id: str = "") -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            who = f"model '{model_id}': " if model_id else ""
            raise ModelError(
                f"{who}weight file '{path}' needs the LiteRT runtime, which is not installed; "
                "run `pip install ai-edge-litert` (Linux, macOS) or leave this model out of --models"
            ) from None
        self.factory = lambda: Interpreter(model_path=str(path), num_threads=threads or None)
        self.batched = False  # set by the adapter once the batching proof holds
        self._local = threading.local()
        self._interp(1)  # fail now, not on first use, if the file is unusable
        self.input_shape = [int(d) for d in self._interp(1)[1]["shape"]]

    def _interp(self, n: int):  # type: ignore[no-untyped-def]
        cache = getattr(self._local, "interps", None)
        if cache is None:
            cache = self._local.interps = {}
        if n not in cache:
            from .batching import resize_litert

            with quiet_litert():
                it = self.factory()
                if n == 1:
                    it.allocate_tensors()
                else:
                    resize_litert(it, n)
            cache[n] = (it, it.get_input_details()[0], it.get_output_details()[0])
        return cache[n]

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.batched and len(batch) > 1:
            interp, inp, out = self._interp(len(batch))
            interp.set_tensor(inp["index"], np.ascontiguousarray(batch, dtype=inp["dtype"]))
            interp.invoke()
            return np.array(interp.get_tensor(out["index"]), dtype=np.float64)
        interp, inp, out = self._interp(1)
        outs = []
        for x in batch:
            interp.set_tensor(inp["index"], x[None].astype(inp["dtype"]))
            interp.invoke()
            outs.append(np.array(interp.get_tensor(out["index"])[0], dtype=np.float64))
        return np.stack(outs)


class OpenVinoSession:
    """An OpenVINO model compiled for the CPU; each calling thread gets its own infer request.

    A compiled model may be shared between threads, an infer request may not, so requests are made per thread
    (cheap) and the engine keeps several calls in flight as with ONNX Runtime. ``threads`` caps OpenVINO's own
    inference threads per call (0: OpenVINO's default).
    """

    def __init__(
        self,
        path: Path,
        *,
        weights: Path | None = None,
        output_name: str | None = None,
        threads: int = 0,
        model_id: str = "",
        dynamic_batch: bool = False,
    ) -> None:
        who = f"model '{model_id}': " if model_id else ""
        try:
            import openvino as ov
        except ImportError:
            raise ModelError(
                f"{who}weight file '{path}' needs the OpenVINO runtime, which is not installed; "
                "run `pip install 'ferbench[openvino]'` or leave this model out of --models"
            ) from None
        if weights is None or not weights.is_file():
            raise ModelError(
                f"{who}'{path}' is an OpenVINO IR description whose weights file "
                f"'{weights or path.with_suffix('.bin')}' is missing; put the .bin beside the .xml"
            )
        core = ov.Core()
        model = core.read_model(str(path), str(weights))
        # The IR's input shape is used as exported (batch 1 here; the card's ``fixed_batch`` splits batches)
        # unless the adapter's CPU proof (ferbench.models.batching) allowed a dynamic leading dimension.
        if dynamic_batch:
            from .batching import reshape_openvino

            reshape_openvino(model)
        config = {"INFERENCE_NUM_THREADS": threads} if threads else {}
        self._compiled = core.compile_model(model, "CPU", config)
        outputs = self._compiled.outputs
        self._output = (
            next((o for o in outputs if output_name in o.names), outputs[0]) if output_name else outputs[0]
        )
        self._local = threading.local()

    def run(self, batch: np.ndarray) -> np.ndarray:
        req = getattr(self._local, "req", None)
        if req is None:
            req = self._local.req = self._compiled.create_infer_request()
        result = req.infer([np.ascontiguousarray(batch, dtype=np.float32)])
        return np.array(result[self._output], dtype=np.float64)
