"""``ferbench sensitivity``: the same models under alternative protocols, on uncropped photos and on FER2013.

Checked: each margin gives a different crop (different pixels) cached under its own variant; every accuracy
equals a hand computation from that variant's stored probabilities; the largest change is the largest
distance from the baseline; a second sweep computes nothing; on pre-cropped faces the sweep varies what
applies and says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from test_faces_stage import photo_folder
from typer.testing import CliRunner

from ferbench.cli import app
from ferbench.datasets import load_dataset
from ferbench.engine import PredictionStore
from ferbench.faces.stage import prepare_face_stage
from ferbench.faces.types import SHARED_CROP, Crops
from ferbench.labels import CANONICAL_LABELS
from ferbench.models import get_card
from ferbench.sensitivity import protocols, sensitivity

MBF = "opencv-zoo-mobilefacenet-fer-int8"
OMZ = "omz-emotions-recognition-retail-0003"
FER = "fer-mini-xception"
MODELS = [FER, MBF, OMZ]
P = [f"p_{lab}" for lab in CANONICAL_LABELS]


def _hand_accuracy(
    preds: pd.DataFrame, samples: pd.DataFrame, model_id: str, variant: str, rule: str
) -> float:
    rows = preds[(preds["model_id"] == model_id) & (preds["variant"] == variant) & (preds["status"] == "ok")]
    rows = rows.merge(samples[["sample_id", "label"]], on="sample_id")
    probs = rows[P].to_numpy(dtype=float)
    labels = set(samples["label"])
    allowed = np.array([rule == "open" or lab in labels for lab in CANONICAL_LABELS])
    pick = np.array(CANONICAL_LABELS)[np.where(allowed & ~np.isnan(probs), probs, -np.inf).argmax(axis=1)]
    return float((pick == rows["label"].to_numpy()).mean())


@pytest.fixture(scope="module")
def photo_sweep(tmp_path_factory: pytest.TempPathFactory, reference_dir: Path, model_store: Path):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("sens")
    data = photo_folder(reference_dir, root / "photos")
    res = sensitivity(
        "fer2013-images",
        data_root=data,
        out=root / "run",
        models=",".join(MODELS),
        faces="yunet",
        multi_face="all",
        model_store=model_store,
    )
    return data, res


def test_photo_sweep_protocols_and_hand_accuracies(photo_sweep, model_store: Path) -> None:  # type: ignore[no-untyped-def]
    data, res = photo_sweep
    r = res.result
    assert list(r["protocols"]) == [
        "own crop",
        "shared crop",
        "margin 0",
        "margin 0.25",
        "aligned",
        "full-resolution detection",
        "open label rule",
    ]
    variants = {name: p["variant"] for name, p in r["protocols"].items()}
    assert variants["own crop"] == "face:yunet:all"
    assert variants["full-resolution detection"] == "face:yunet:all:s0"
    distinct = ("own crop", "shared crop", "margin 0", "margin 0.25", "aligned", "full-resolution detection")
    assert len({variants[n] for n in distinct}) == 6
    assert variants["open label rule"] == variants["own crop"]  # same predictions, another rule
    store = PredictionStore(res.out)
    preds = store.read(MODELS)
    ds = load_dataset("fer2013-images", data)
    stage = prepare_face_stage(ds, protocols("yunet", "all")[0][0].faces, res.out, model_store=model_store)
    samples = stage.dataset.samples
    for name, p in r["protocols"].items():
        for mid in MODELS:
            want = _hand_accuracy(preds, samples, mid, p["variants"][mid], p["label_rule"])
            assert abs(p["models"][mid]["accuracy"] - want) < 1e-12, (name, mid)
    for m in r["models"].values():
        base = m["accuracy"]["own crop"]
        diffs = {k: v - base for k, v in m["accuracy"].items() if k != "own crop"}
        top = max(diffs, key=lambda k: abs(diffs[k]))
        assert abs(abs(m["largest_change"]["change"]) - abs(diffs[top])) < 1e-12
    # The shared crop of a model without its own preparation is its baseline crop: read, not recomputed.
    assert r["protocols"]["shared crop"]["variants"][FER] == "face:yunet:all"
    assert res.computed["open label rule"] == 0
    assert r["fleiss_kappa"]["own crop"] is not None
    # The protocol really moves a model on these 9 faces (the point: numbers move silently).
    assert max(abs(m["largest_change"]["change"]) for m in r["models"].values()) > 0


def test_each_margin_is_a_distinct_crop(photo_sweep, model_store: Path) -> None:  # type: ignore[no-untyped-def]
    data, res = photo_sweep
    ds = load_dataset("fer2013-images", data)
    sid = "test/surprise/0-f1-su-ph.jpg"
    img = cv2.imread(str(data / sid))
    crops = {}
    card = get_card(FER)
    for p in protocols("yunet", "all")[0]:
        if p.axis not in ("crop", "margin"):
            continue
        stage = prepare_face_stage(ds, p.faces, res.out, model_store=model_store, cards=[card])
        row = stage.dataset.samples.set_index("sample_id").loc[f"{sid}#face0"]
        row["sample_id"] = f"{sid}#face0"
        out = stage.transform(img, row)
        crops[p.faces.margin] = out[SHARED_CROP] if isinstance(out, Crops) else out
    assert set(crops) == {0.0, 0.1, 0.25}
    sides = {m: c.shape[0] for m, c in crops.items()}
    assert sides[0.0] < sides[0.1] < sides[0.25]
    small = {m: cv2.resize(c, (64, 64)) for m, c in crops.items()}
    for a in crops:
        for b in crops:
            if a < b:
                assert np.abs(small[a].astype(int) - small[b].astype(int)).mean() > 2, (a, b)
    # ...and their predictions sit under distinct variants of the store.
    preds = PredictionStore(res.out).read([FER])
    by_variant = {
        v: g.set_index("sample_id").loc[f"{sid}#face0", P].to_numpy(float)
        for v, g in preds.groupby("variant")
    }
    assert {"face:yunet:all", "face:yunet:all:m0:shared", "face:yunet:all:m0.25:shared"} <= set(by_variant)
    assert not np.allclose(
        by_variant["face:yunet:all:m0:shared"], by_variant["face:yunet:all:m0.25:shared"], equal_nan=True
    )


def test_second_sweep_reuses_every_prediction(photo_sweep, model_store: Path) -> None:  # type: ignore[no-untyped-def]
    data, res = photo_sweep
    again = sensitivity(
        "fer2013-images",
        data_root=data,
        out=res.out,
        models=",".join(MODELS),
        faces="yunet",
        multi_face="all",
        model_store=model_store,
    )
    assert sum(again.computed.values()) == 0
    assert again.result["models"] == res.result["models"]


def test_pre_cropped_fer2013_varies_what_applies(
    tmp_path: Path, fer2013_root: Path, model_store: Path
) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        [
            "sensitivity",
            "--dataset",
            "fer2013-images",
            "--data-root",
            str(fer2013_root),
            "--out",
            str(out),
            "--split",
            "test",
            "--limit",
            "40",
            "--models",
            ",".join(MODELS),
            "--model-store",
            str(model_store),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    assert "pre-cropped dataset" in res.output
    r = json.loads((out / "sensitivity.json").read_text())
    assert list(r["protocols"]) == ["as given", "resize swapped", "aligned where found", "open label rule"]
    assert "crop margin and own-vs-shared crop do not apply" in r["notes"][0]
    assert 0 <= r["protocols"]["aligned where found"]["n_aligned"] <= 40
    # The swapped-resize cards are other fingerprints, so their rows are not the store's current ones.
    preds = PredictionStore(out).read(MODELS, current=False)
    base = preds[preds["variant"] == "clean"].set_index(["model_id", "sample_id"])[P]
    swap = preds[preds["variant"] == "clean+sens:resize-swap"].set_index(["model_id", "sample_id"])[P]
    assert len(base) == len(swap) == 3 * 40
    # Swapping OpenCV for Pillow bilinear changes the pixels, so the probabilities.
    assert not np.allclose(base.loc[swap.index].to_numpy(float), swap.to_numpy(float), equal_nan=True)
    for name, p in r["protocols"].items():
        assert set(p["models"]) == set(MODELS) and p["label_rule"] in ("restricted", "open"), name
