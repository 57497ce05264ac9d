"""Inference runtimes: ONNX Runtime for almost everything, LiteRT for TFLite files whose ONNX conversion is wrong.

Sessions are built only when a model is first used (never at import), with options chosen on purpose:
graph optimisations on, quiet logging (some converted graphs warn once per initializer), and a thread count
the engine decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ModelError


class Session(Protocol):
    def run(self, batch: np.ndarray) -> np.ndarray: ...


class OnnxSession:
    def __init__(
        self,
        path: Path,
        *,
        input_name: str | None,
        output_name: str | None,
        threads: int = 0,
        device: str = "cpu",
    ) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelError(
                    "device 'cuda' requested but this onnxruntime has no CUDAExecutionProvider; "
                    "install onnxruntime-gpu or use --device cpu"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        self._sess = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        self._input = input_name or self._sess.get_inputs()[0].name
        self._output = output_name or self._sess.get_outputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._sess.run([self._output], {self._input: batch})[0])


class LiteRTSession:
    """A TFLite interpreter from ``ai-edge-litert``; runs one image per invoke (TFLite's fixed batch)."""

    def __init__(self, path: Path, *, threads: int = 0, model_id: str = "") -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            who = f"model '{model_id}': " if model_id else ""
            raise ModelError(
                f"{who}weight file '{path}' needs the LiteRT runtime, which is not installed; "
                "run `pip install ai-edge-litert` (Linux, macOS) or leave this model out of --models"
            ) from None
        self._interp = Interpreter(model_path=str(path), num_threads=threads or None)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]

    def run(self, batch: np.ndarray) -> np.ndarray:
        outs = []
        for x in batch:
            self._interp.set_tensor(self._in["index"], x[None].astype(self._in["dtype"]))
            self._interp.invoke()
            outs.append(np.array(self._interp.get_tensor(self._out["index"])[0], dtype=np.float64))
        return np.stack(outs)
