"""The two label rules, checked against a hand computation from the stored probabilities.

*restricted* (the default): arg-max over the dataset's labels the model has. *open*: the model's own arg-max
over all its classes, a label the dataset lacks counting as wrong. Both accuracies (and macro-F1) are in every
run's ``metrics.json``; every section that picks labels records which rule it used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from test_faces_stage import photo_folder

from ferbench.api import run
from ferbench.labels import CANONICAL_LABELS, LABEL_RULES

P = [f"p_{lab}" for lab in CANONICAL_LABELS]


def _hand(preds: pd.DataFrame, model_id: str, labels: list[str]) -> tuple[float, float, float, float]:
    """(restricted accuracy, restricted macro-F1, open accuracy, open macro-F1) from the raw p_ columns."""
    rows = preds[(preds["model_id"] == model_id) & (preds["status"] == "ok")]
    truth = rows["label"].to_numpy()
    probs = rows[P].to_numpy(dtype=float)
    allowed = np.array([lab in labels for lab in CANONICAL_LABELS])
    restricted_scores = np.where(allowed & ~np.isnan(probs), probs, -np.inf)
    restricted = np.array(CANONICAL_LABELS)[restricted_scores.argmax(axis=1)]
    open_ = np.array(CANONICAL_LABELS)[np.where(np.isnan(probs), -np.inf, probs).argmax(axis=1)]
    f1 = lambda yp: f1_score(truth, yp, labels=labels, average="macro", zero_division=0)  # noqa: E731
    return float((restricted == truth).mean()), f1(restricted), float((open_ == truth).mean()), f1(open_)


def _check(out: Path, models: list[str]) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    preds = pd.read_parquet(out / "predictions.parquet")
    for mid in models:
        s = metrics["models"][mid]
        r_acc, r_f1, o_acc, o_f1 = _hand(preds, mid, metrics["labels"])
        assert s["label_rule"] == "restricted"
        assert abs(s["accuracy"] - r_acc) < 1e-12 and abs(s["macro_f1"] - r_f1) < 1e-12, mid
        by = s["by_label_rule"]
        assert by["restricted"] == {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"]}
        assert abs(by["open"]["accuracy"] - o_acc) < 1e-12, mid
        assert abs(by["open"]["macro_f1"] - o_f1) < 1e-12, mid
    assert metrics["label_rule"] == "restricted" and metrics["label_rules"] == LABEL_RULES
    assert metrics["agreement"]["label_rule"] == "restricted"
    return metrics


def test_both_rules_on_fer2013_match_a_hand_computation(
    tmp_path: Path, fer2013_root: Path, model_store: Path
) -> None:
    models = ["yolo11n-fer8", "omz-emotions-recognition-retail-0003", "fer-mini-xception"]
    run(
        "fer2013-images",
        data_root=fer2013_root,
        out=tmp_path / "run",
        models=",".join(models),
        split="test",
        limit=120,
        model_store=model_store,
        write_report=False,
    )
    m = _check(tmp_path / "run", models)
    # A 7-class FER2013 model has no class outside FER2013's labels: both rules agree for it.
    fer = m["models"]["fer-mini-xception"]["by_label_rule"]
    assert fer["open"]["accuracy"] == fer["restricted"]["accuracy"]
    assert fer["open"]["n_outside_labels"] == 0


def test_open_rule_differs_on_a_small_label_set(
    tmp_path: Path, reference_dir: Path, model_store: Path
) -> None:
    """On posed photos with 5 labels, predicting neutral/fear/sad/contempt is wrong under the open rule."""
    data = photo_folder(reference_dir, tmp_path / "photos")
    models = ["yolo11n-fer8", "fer-mini-xception", "emotion-model-cnn5", "opencv-zoo-mobilefacenet-fer-int8"]
    run(
        "fer2013-images",
        data_root=data,
        out=tmp_path / "run",
        models=",".join(models),
        model_store=model_store,
        faces="yunet",
        multi_face="all",
        write_report=True,
    )
    m = _check(tmp_path / "run", models)
    outside = sum(m["models"][mid]["by_label_rule"]["open"]["n_outside_labels"] for mid in models)
    assert outside > 0
    gaps = [
        m["models"][mid]["accuracy"] - m["models"][mid]["by_label_rule"]["open"]["accuracy"] for mid in models
    ]
    assert max(gaps) > 0 and min(gaps) >= 0  # restricting never turns a right answer wrong
    for key in ("agreement_levels", "disagreement", "calibration", "selective"):
        assert m[key]["label_rule"] == "restricted", key
    assert all(e["label_rule"] == "restricted" for e in m["ensembles"].values())
    html = (tmp_path / "run" / "report.html").read_text()
    assert "accuracy, open rule" in html and "restricted" in html
