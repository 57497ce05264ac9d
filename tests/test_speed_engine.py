"""The fast engine gives the same numbers as the plain per-image path, and its store reads only what is asked.

Oracles: a per-image preprocessing written out step by step here (the pre-vectorisation code), and
``Adapter.predict`` called directly on the decoded crops.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferbench.datasets import load_dataset
from ferbench.engine import EngineOptions, PredictionStore, run_models
from ferbench.engine.runner import plan
from ferbench.errors import ModelError
from ferbench.fingerprint import variant_fingerprint
from ferbench.hashing import sha256_file
from ferbench.models import Adapter, Artifact, ModelCard, Preprocess, resolve_models
from ferbench.models.preprocess import (
    PixelCache,
    _letterbox,
    _pad_square,
    _skimage_resize,
    _tf_legacy_bilinear,
    preprocess_batch,
    preprocess_one,
)
from ferbench.models.runtime import cuda_available

SPECS = [
    Preprocess((64, 64), "gray_cv2", "cv2_linear", 1 / 255, (0.5,), (0.5,)),
    Preprocess((48, 48), "gray_cv2", "cv2_linear", 1 / 255, (0.5,), (0.5,)),
    Preprocess((48, 48), "gray_pil", "pil_bilinear", 1 / 255, (0.5,), (0.5,), "NCHW"),
    Preprocess((48, 48), "gray3_cv2", "cv2_linear", 1 / 127.5, (1.0,), (1.0,)),
    Preprocess(
        (112, 112), "rgb", "tf_legacy_bilinear", 1.0, (122.782, 117.001, 104.298), (255.0,) * 3, "NCHW", True
    ),
    Preprocess((320, 320), "rgb", "letterbox", 1 / 255, layout="NCHW"),
    Preprocess((96, 96), "gray_cv2", "cv2_linear", 1 / 255),
    Preprocess((200, 200), "gray3_cv2", "skimage_aa", 1 / 255),
    Preprocess(
        (260, 260), "bgr", "pil_lanczos", 1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "NCHW"
    ),
]


def _oracle(img: np.ndarray, p: Preprocess) -> np.ndarray:
    """The per-image preprocessing exactly as it was written before the engine was vectorised."""
    if p.color == "gray_cv2":
        x = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif p.color == "gray3_cv2":
        x = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2RGB)
    elif p.color == "gray_pil":
        x = np.asarray(Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).convert("L"))
    elif p.color == "rgb":
        x = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        x = img
    if p.pad_square:
        x = _pad_square(x)
    h, w = p.size
    if p.resize == "cv2_linear":
        x = cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR)
    elif p.resize == "pil_bilinear":
        x = np.asarray(Image.fromarray(x).resize((w, h), Image.Resampling.BILINEAR))
    elif p.resize == "pil_lanczos":
        x = np.asarray(Image.fromarray(x).resize((w, h), Image.Resampling.LANCZOS))
    elif p.resize == "tf_legacy_bilinear":
        x = _tf_legacy_bilinear(x, h, w)
    elif p.resize == "skimage_aa":
        x = _skimage_resize(x, h, w, p.scale)
    else:
        x = _letterbox(x, h, w, p.letterbox_fill)
    x = x.astype(np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    scale = np.float32(1.0 if p.resize == "skimage_aa" else p.scale)  # scikit-image scaled before resizing
    x = (x * scale - np.asarray(p.mean, np.float32)) / np.asarray(p.std, np.float32)
    if p.layout == "NCHW":
        x = np.transpose(x, (2, 0, 1))
    return np.ascontiguousarray(x, dtype=np.float32)


@pytest.fixture(scope="module")
def crops(reference_dir: Path, fer2013_root: Path) -> list[np.ndarray]:
    """Real faces of several sizes and shapes: the reference crops, a few FER2013 faces, non-square cuts."""
    out = [cv2.imread(str(p)) for p in sorted((reference_dir / "crops").glob("*.png"))]
    out += [cv2.imread(str(p)) for p in sorted((fer2013_root / "test" / "happy").glob("*.jpg"))[:4]]
    out += [out[0][10:90, 5:140], out[-1][:, 6:40]]
    return out


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: f"{p.color}-{p.resize}-{p.size[0]}")
def test_vectorised_preprocessing_is_bit_identical(crops: list[np.ndarray], spec: Preprocess) -> None:
    want = np.stack([_oracle(img, spec) for img in crops])
    assert np.array_equal(preprocess_batch(crops, spec), want)
    assert np.array_equal(preprocess_one(crops[3], spec), want[3])


def test_pixel_cache_shares_work_and_matches(crops: list[np.ndarray]) -> None:
    img = crops[0]
    cache = PixelCache(img)
    first = cache.get(SPECS[0])
    # Same colour and geometry, different normalisation: the resized pixels are shared, not recomputed.
    assert cache.get(dataclasses.replace(SPECS[0], mean=(0.0,), std=(1.0,))) is first
    for spec in SPECS:
        got = cache.get(spec).astype(np.float32)
        assert np.array_equal(preprocess_batch([img], spec), _norm(got, spec))
    assert len(cache._colored) == 5  # gray_cv2, gray_pil, gray3_cv2, rgb, bgr: one conversion each
    # scikit-image resizing applies the scale first: a different scale must not share its pixels.
    other = dataclasses.replace(SPECS[7], scale=1 / 127.5)
    assert not np.array_equal(cache.get(other), cache.get(SPECS[7]))


def _norm(x: np.ndarray, p: Preprocess) -> np.ndarray:
    from ferbench.models.preprocess import normalise

    return normalise(x[None], p)


def _extra_cards(model_store: Path) -> list[ModelCard]:
    """Two more preprocessing families from the converted files (RGB + pad + TF resize; letterbox, batch 1)."""
    conv = model_store / "_onnx-converted"
    faceapi = "faceapi_expression_net.onnx"
    yolo = "faceemotionrecognition_yolo11n_fer8.onnx"
    return [
        ModelCard(
            id="t-faceapi",
            name="test",
            family="faceapi",
            runtime="onnx",
            artifact=Artifact(f"_onnx-converted/{faceapi}", sha256_file(conv / faceapi), "test"),
            licence="MIT",
            training_data="",
            preprocess=SPECS[4],
            output="softmax",
            classes=("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"),
            verified=False,
        ),
        ModelCard(
            id="t-yolo",
            name="test",
            family="yolo",
            runtime="onnx",
            artifact=Artifact(f"_onnx-converted/{yolo}", sha256_file(conv / yolo), "test"),
            licence="AGPL-3.0",
            training_data="",
            preprocess=SPECS[5],
            output="yolo_head",
            classes=("anger", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
            verified=False,
            fixed_batch=1,
        ),
    ]


@pytest.fixture(scope="module")
def small(fer2013_root: Path):  # type: ignore[no-untyped-def]
    return load_dataset("fer2013-images", fer2013_root).select("test", 90, seed=3)


def _crop(img: np.ndarray, row: pd.Series) -> np.ndarray:
    return img[2:46, 6:40]  # a non-square cut, so padding and letterboxing really happen


def test_engine_matches_adapter_predict(small, model_store: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cards = resolve_models("all", model_store) + _extra_cards(model_store)
    store = PredictionStore(tmp_path / "run")
    opts = EngineOptions(chunk_size=32, batch_size=8, variant="crop")
    report = run_models(small, cards, store, model_store=model_store, options=opts, transform=_crop)
    assert report.computed == {c.id: len(small) for c in cards}
    rows = store.read(variant="crop")
    images = [_crop(small.read(r.sample_id, r.path)[0], r) for r in small.samples.itertuples()]
    for card in cards:
        adapter = Adapter(card, model_store)
        want = adapter.to_canonical(adapter.predict(images))
        got = rows[rows["model_id"] == card.id].set_index("sample_id").loc[small.samples["sample_id"]]
        probs = got[
            [
                f"p_{c}"
                for c in ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
            ]
        ]
        np.testing.assert_allclose(probs.to_numpy(), want, rtol=0, atol=1e-6, equal_nan=True)
        assert (got["status"] == "ok").all()
        top = np.array(["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"])[
            np.nanargmax(want, axis=1)
        ]
        assert list(got["top_label"]) == list(top)


def test_bad_files_become_statuses_and_resume_is_exact(
    fer2013_root: Path, model_store: Path, tmp_path: Path
) -> None:
    root = tmp_path / "fer"
    for cls in ("happy", "sad"):
        (root / "test" / cls).mkdir(parents=True)
        for f in sorted((fer2013_root / "test" / cls).glob("*.jpg"))[:12]:
            shutil.copy(f, root / "test" / cls / f.name)
    (root / "test" / "sad" / "PublicTest_broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (root / "test" / "happy" / "PublicTest_empty.jpg").write_bytes(b"")
    ds = load_dataset("fer2013-images", root)
    cards = resolve_models("all", model_store)
    store = PredictionStore(tmp_path / "run")
    run_models(ds, cards, store, model_store=model_store, options=EngineOptions(chunk_size=10))
    rows = store.read()
    assert len(rows) == len(ds) * len(cards)
    status = rows.drop_duplicates("sample_id").set_index("sample_id")["status"]
    assert status["test/sad/PublicTest_broken.jpg"] == "unreadable"
    assert status["test/happy/PublicTest_empty.jpg"] == "empty_file"
    assert (status.drop(["test/sad/PublicTest_broken.jpg", "test/happy/PublicTest_empty.jpg"]) == "ok").all()
    bad = rows[rows["status"] != "ok"]
    assert bad["top_label"].isna().all() and bad["p_happy"].isna().all()

    # Second run: everything reused. Then drop one model's parts: only that model is recomputed, same numbers.
    again = run_models(ds, cards, store, model_store=model_store)
    assert again.total_computed == 0 and again.reused == {c.id: len(ds) for c in cards}
    before = store.read([cards[1].id]).sort_values("sample_id").reset_index(drop=True)
    shutil.rmtree(store.parts_dir / cards[1].id)
    third = run_models(ds, cards, store, model_store=model_store)
    assert third.computed == {c.id: (len(ds) if c is cards[1] else 0) for c in cards}
    after = store.read([cards[1].id]).sort_values("sample_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)


def test_store_reads_only_what_is_asked(small, model_store: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cards = resolve_models("all", model_store)[:2]
    store = PredictionStore(tmp_path / "run")
    run_models(small, cards, store, model_store=model_store)
    run_models(small, cards[:1], store, model_store=model_store, options=EngineOptions(variant="blur"))
    full = store.read()
    assert len(full) == 3 * len(small)
    one = store.read([cards[0].id], ["top_label"], variant="clean")
    assert list(one.columns) == [
        "sample_id",
        "stamp",
        "model_id",
        "variant",
        "model_fingerprint",
        "variant_fingerprint",
        "top_label",
    ]
    assert len(one) == len(small) and set(one["variant"]) == {"clean"}
    assert store.read(variant="blur")["model_id"].unique().tolist() == [cards[0].id]
    assert store.read([cards[0].id], model_sha256="0" * 64).empty
    # A rewritten key: the later part wins and the row is not doubled.
    later = store.read([cards[0].id], variant="clean").iloc[:3].copy()
    later["top_label"] = "contempt"
    store.write_part(later)
    reread = store.read([cards[0].id], variant="clean")
    assert len(reread) == len(small)
    assert (reread.set_index("sample_id").loc[later["sample_id"], "top_label"] == "contempt").all()
    fp, clean_fp = cards[0].fingerprint, variant_fingerprint("clean")
    assert fp is not None
    assert store.done_mask(cards[0].id, fp, "clean", clean_fp, small.samples).all()
    assert not store.done_mask(cards[0].id, "model:other", "clean", clean_fp, small.samples).any()
    assert not store.done_mask(cards[0].id, fp, "clean", variant_fingerprint("blur"), small.samples).any()


def test_cuda_falls_back_to_cpu_with_a_message(small, model_store: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    if cuda_available():
        pytest.skip("this onnxruntime has CUDA: the fallback path cannot be exercised here")
    pl = plan(EngineOptions(device="cuda"))
    assert pl.device == "cpu" and "no CUDAExecutionProvider" in (pl.note or "")
    cards = resolve_models("all", model_store)[:1]
    sub = small.select(limit=20)
    cuda = run_models(
        sub,
        cards,
        PredictionStore(tmp_path / "a"),
        model_store=model_store,
        options=EngineOptions(device="cuda"),
    )
    assert "running on the CPU instead" in capsys.readouterr().err
    assert cuda.device == "cpu" and cuda.notes and cuda.computed[cards[0].id] == 20
    cpu = run_models(sub, cards, PredictionStore(tmp_path / "b"), model_store=model_store)
    assert cpu.device == "cpu" and not cpu.notes
    cols = [c for c in PredictionStore(tmp_path / "a").read().columns if c.startswith("p_")]
    a = PredictionStore(tmp_path / "a").read().sort_values("sample_id")[cols].to_numpy()
    b = PredictionStore(tmp_path / "b").read().sort_values("sample_id")[cols].to_numpy()
    assert np.array_equal(a, b, equal_nan=True)


def test_unknown_device_is_a_user_error() -> None:
    with pytest.raises(ModelError, match="unknown device 'tpu'"):
        plan(EngineOptions(device="tpu"))


def test_cli_device_cuda_runs_on_cpu_and_says_so(
    fer2013_root: Path, model_store: Path, tmp_path: Path
) -> None:
    if cuda_available():
        pytest.skip("this onnxruntime has CUDA: the fallback path cannot be exercised here")
    from typer.testing import CliRunner

    from ferbench.cli import app

    res = CliRunner().invoke(
        app,
        [
            "run", "--dataset", "fer2013-images", "--data-root", str(fer2013_root), "--split", "test",
            "--limit", "30", "--models", "fer-mini-xception", "--model-store", str(model_store),
            "--out", str(tmp_path / "run"), "--device", "cuda",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "running on the CPU instead" in res.output
    import json

    prov = json.loads((tmp_path / "run" / "metrics.json").read_text())["provenance"]
    assert "engine" in json.dumps(prov) and '"device": "cpu"' in json.dumps(prov)
