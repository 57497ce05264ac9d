"""Every zoo model runs at batch > 1 with outputs equal, bit for bit, to the original file at batch 1.

Oracle: each weight file *as shipped*, run one real face per call by its runtime directly (an ONNX Runtime
session on the original file, a TFLite interpreter that was never resized), never the lifted model or the
adapter under test. Faces: the reference crops and FER2013 test faces.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ferbench.engine.runner import cuda_batch
from ferbench.hashing import sha256_file
from ferbench.models import Adapter, Artifact, ModelCard, Preprocess, batching, list_models, resolve_models
from ferbench.models.preprocess import preprocess_batch
from ferbench.models.runtime import session_options

BATCH = 16
ZOO = [c for c in list_models(verified_only=True) if c.recommended]  # what `--models all` runs


@pytest.fixture(scope="module")
def faces(reference_dir: Path, fer2013_root: Path) -> list[np.ndarray]:
    """Real faces: the eight reference crops and 29 FER2013 test faces, one class after another (37 in all)."""
    out = [cv2.imread(str(p)) for p in sorted((reference_dir / "crops").glob("*.png"))]
    for cls in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"):
        out += [cv2.imread(str(p)) for p in sorted((fer2013_root / "test" / cls).glob("*.jpg"))[:4]]
    out.append(out[0][10:90, 5:140])
    return out


def _batch1_oracle(card: ModelCard, weights: Path, x: np.ndarray) -> np.ndarray:
    """The shipped file, one image per call, by its own runtime with default settings."""
    if card.runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(weights))
        it.allocate_tensors()
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        rows = []
        for xi in x:
            it.set_tensor(inp["index"], xi[None].astype(inp["dtype"]))
            it.invoke()
            rows.append(np.array(it.get_tensor(out["index"])[0], dtype=np.float64))
        return np.stack(rows)
    if card.runtime == "openvino":
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(core.read_model(str(weights), str(weights.with_suffix(".bin"))), "CPU")
        port = next((o for o in compiled.outputs if card.output_name in o.names), compiled.outputs[0])
        request = compiled.create_infer_request()
        return np.concatenate([np.array(request.infer([xi[None]])[port], dtype=np.float64) for xi in x])
    import onnxruntime as ort

    sess = ort.InferenceSession(str(weights), providers=["CPUExecutionProvider"])
    name = card.input_name or sess.get_inputs()[0].name
    output = card.output_name or sess.get_outputs()[0].name
    return np.concatenate([np.asarray(sess.run([output], {name: xi[None]})[0], dtype=np.float64) for xi in x])


def test_the_whole_zoo_is_covered() -> None:
    assert len(ZOO) >= 11, [c.id for c in ZOO]  # nine, plus MobileFaceNet int8 and the OMZ IR


@pytest.mark.parametrize("card", ZOO, ids=lambda c: c.id)
def test_zoo_model_at_batch_16_equals_its_file_at_batch_1(
    card: ModelCard, faces: list[np.ndarray], model_store: Path
) -> None:
    adapter = Adapter(card, model_store, batch_size=BATCH, litert_batched=True)
    if card.fixed_batch == 1 or card.runtime == "litert":
        # A batch-1 export must have been lifted, proved at the sizes it will be called with.
        assert adapter.batch_verdict is not None and adapter.batch_verdict.ok, adapter.notes
        assert adapter.batch_sizes is not None and BATCH in adapter.batch_sizes
        assert adapter.notes == []
    else:
        assert adapter.batch_sizes is None  # a dynamic file needs no lift
    x = adapter.prepare(faces)
    want = _batch1_oracle(card, adapter.weights, x)
    got = np.concatenate([adapter.run_raw(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])
    assert got.shape == want.shape
    assert np.array_equal(got, want)  # bit for bit, at batches of 16, 16 and 5 (37 faces)


def test_litert_stays_one_invoke_per_image_unless_asked(model_store: Path, tmp_path: Path) -> None:
    card = resolve_models("facex-mobilenetv2", model_store)[0]
    assert Adapter(card, model_store).batch_verdict is None  # no proof, no resize: the CPU default
    lifted = Adapter(card, model_store, batch_size=4, litert_batched=True, cache_dir=tmp_path)
    assert lifted.batch_verdict is not None and lifted.batch_verdict.ok
    assert lifted.batch_sizes == (1, 2, 3, 4, 5, 8)


def test_lifted_yolo_really_takes_a_batch(model_store: Path, faces: list[np.ndarray]) -> None:
    """The lifted file accepts (n, 3, 320, 320) in one call; the shipped file refuses it."""
    import onnxruntime as ort

    card = resolve_models("yolo11n-fer8", model_store)[0]
    adapter = Adapter(card, model_store, batch_size=BATCH)
    lifted, verdict = batching.lifted_onnx(adapter.weights, adapter.sha256, card.preprocess, BATCH)
    assert lifted is not None and verdict.ok and sha256_file(lifted) == verdict.lifted_sha256
    x = preprocess_batch(faces[:BATCH], card.preprocess)
    opts = session_options(1)
    out = ort.InferenceSession(str(lifted), opts, providers=["CPUExecutionProvider"]).run(
        ["output0"], {"images": x}
    )[0]
    assert out.shape == (BATCH, 12, 2100)
    with pytest.raises(Exception, match="images"):
        ort.InferenceSession(str(adapter.weights), opts, providers=["CPUExecutionProvider"]).run(
            ["output0"], {"images": x}
        )
    model = onnx.load(str(lifted))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == batching.BATCH_DIM
    reshapes = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
    consts = {n.output[0]: n.attribute[0].t for n in model.graph.node if n.op_type == "Constant"}
    targets = [numpy_helper.to_array(consts[name]).tolist() for name in reshapes if name in consts]
    assert [0, 64, -1] in targets and [0, 4, 16, 2100] in targets  # leading 1 -> 0 (copy the batch)


def _mixing_model(path: Path) -> None:
    """A batch-1 graph whose lift runs but mixes images: transpose puts the batch last before a reshape."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    shape = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[3, 1, 2, 0]),
        helper.make_node("Reshape", ["t", "shape"], ["r"]),
        helper.make_node("Softmax", ["r"], ["y"], axis=1),
    ]
    graph = helper.make_graph(nodes, "mixing", [x], [y], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _toy_card(store: Path) -> ModelCard:
    _mixing_model(store / "mix.onnx")
    return ModelCard(
        id="t-mixing",
        name="test",
        family="test",
        runtime="onnx",
        artifact=Artifact("mix.onnx", sha256_file(store / "mix.onnx"), "test"),
        licence="MIT",
        training_data="",
        preprocess=Preprocess((2, 2), "gray_cv2", "cv2_linear", 1 / 255),
        output="softmax",
        classes=("neutral", "happy", "sad", "angry"),
        verified=False,
        fixed_batch=1,
    )


def test_a_lift_that_mixes_images_is_refused_and_the_model_runs_one_image_per_call(
    tmp_path: Path, faces: list[np.ndarray]
) -> None:
    card = _toy_card(tmp_path)
    adapter = Adapter(card, tmp_path, batch_size=8, cache_dir=tmp_path / "cache")
    assert adapter.batch_verdict is not None and not adapter.batch_verdict.ok
    assert "differ" in adapter.batch_verdict.detail or "shape" in adapter.batch_verdict.detail
    assert adapter.batch_sizes == (1,)
    assert (
        len(adapter.notes) == 1
        and "t-mixing" in adapter.notes[0]
        and "one image per call" in adapter.notes[0]
    )
    # Still right: every image alone through the shipped file (the same 4 pixels, softmaxed, by hand).
    x = adapter.prepare(faces[:6])
    flat = x.reshape(6, 4).astype(np.float64)
    e = np.exp(flat - flat.max(axis=1, keepdims=True))
    np.testing.assert_allclose(adapter.infer(x), e / e.sum(axis=1, keepdims=True), atol=1e-6)
    # The failed verdict is cached: no lifted file is written and the next load does not prove again.
    folder = tmp_path / "cache" / "batching" / card.artifact.sha256  # type: ignore[operator]
    assert not (folder / "dynamic_batch.onnx").exists()
    assert json.loads((folder / "verdict.json").read_text())["ok"] is False


def test_verdicts_are_cached_and_a_tampered_lifted_file_is_made_again(
    tmp_path: Path, model_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = resolve_models("yolo11n-fer8", model_store)[0]
    cache = tmp_path / "cache"
    first = Adapter(card, model_store, batch_size=4, cache_dir=cache)
    folder = cache / "batching" / first.sha256
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["ok"] and verdict["sizes"] == [1, 2, 3, 4, 5, 8]
    assert verdict["runtime"].startswith("onnxruntime ")

    def no_proof(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached verdict covering these sizes must not be proved again")

    monkeypatch.setattr(batching, "check_batched", no_proof)
    Adapter(card, model_store, batch_size=8, cache_dir=cache)  # 8 is covered: no proof
    monkeypatch.undo()
    lifted = folder / "dynamic_batch.onnx"
    lifted.write_bytes(lifted.read_bytes()[:-1] + b"\0")  # tampered: sha no longer the verdict's
    again = Adapter(card, model_store, batch_size=8, cache_dir=cache)
    assert again.batch_verdict is not None and again.batch_verdict.ok
    assert sha256_file(lifted) == again.batch_verdict.lifted_sha256
    bigger = Adapter(card, model_store, batch_size=16, cache_dir=cache)  # 16 is new: proved, sizes merged
    assert bigger.batch_sizes == (1, 2, 3, 4, 5, 8, 16)


def test_split_sizes_uses_only_proved_sizes() -> None:
    sizes = (1, 2, 3, 5, 8)
    for n in range(0, 40):
        pieces = batching.split_sizes(n, sizes)
        assert sum(j - i for i, j in pieces) == n
        assert all(j - i in sizes for i, j in pieces)
        assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))
    assert batching.split_sizes(5, (2,)) == [(0, 2), (2, 4), (4, 5)]  # a fixed batch of 2 keeps its tail


def test_cuda_batch_is_sized_per_model(model_store: Path) -> None:
    by_id = {c.id: cuda_batch(c) for c in ZOO}
    assert by_id["oarriaga-mini-xception-119"] == 256  # 48 x 48 grey
    assert by_id["faceapi-expression-net"] == 128  # 112 x 112 x 3: the reference size
    assert by_id["facex-mobilenetv2"] == 32  # 200 x 200 x 3
    assert by_id["yolo11n-fer8"] == 16  # 320 x 320 x 3


def test_openvino_ir_reshaped_to_a_dynamic_batch_equals_batch_1(
    model_store: Path, faces: list[np.ndarray], tmp_path: Path
) -> None:
    """OMZ emotions-recognition-retail-0003 (IR, batch 1): reshaped, 16 real faces in one call, bit for bit."""
    ov = pytest.importorskip("openvino")
    folder = model_store / "omz-emotions-recognition-retail-0003" / "FP16-INT8"
    xml, bin_file = (
        folder / "emotions-recognition-retail-0003.xml",
        folder / "emotions-recognition-retail-0003.bin",
    )
    pre = Preprocess((64, 64), "bgr", "cv2_linear", 1.0, layout="NCHW")  # OMZ: BGR, raw 0..255, NCHW
    verdict = batching.openvino_batch_verdict(xml, bin_file, sha256_file(xml), pre, BATCH, tmp_path)
    assert verdict.ok and BATCH in verdict.sizes, verdict.detail
    core = ov.Core()
    shipped = core.compile_model(core.read_model(str(xml), str(bin_file)), "CPU").create_infer_request()
    model = core.read_model(str(xml), str(bin_file))
    batching.reshape_openvino(model)
    lifted = core.compile_model(model, "CPU").create_infer_request()
    x = preprocess_batch(faces[:BATCH], pre)
    want = np.concatenate([np.array(list(shipped.infer([x[i : i + 1]]).values())[0]) for i in range(BATCH)])
    got = np.array(list(lifted.infer([x]).values())[0])
    assert got.shape == (BATCH, 5, 1, 1) and np.array_equal(got, want)


def test_cuda_plan_gives_each_model_its_batch_unless_one_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where CUDA is available (faked here: no GPU is lent to these tests), each model gets ``cuda_batch``."""
    from ferbench.engine import EngineOptions, runner

    monkeypatch.setattr(runner, "resolve_device", lambda device: (device, None))
    yolo = next(c for c in ZOO if c.id == "yolo11n-fer8")
    mini = next(c for c in ZOO if c.id == "oarriaga-mini-xception-119")
    auto = runner.plan(EngineOptions(device="cuda"))
    assert auto.batch_per_model and (auto.batch_for(yolo), auto.batch_for(mini)) == (16, 256)
    asked = runner.plan(EngineOptions(device="cuda", batch_size=32))
    assert (asked.batch_for(yolo), asked.batch_for(mini)) == (32, 32)
    cpu = runner.plan(EngineOptions(device="cpu"))
    assert (cpu.batch_for(yolo), cpu.batch_for(mini)) == (8, 8)
