"""``ferbench predict IMAGE_OR_FOLDER``: expression labels for the faces in photos, or an honest "uncertain".

Per image: the faces found; per face every model's label and score; then one answer: the ensemble's label
(two or more models; rules in :mod:`ferbench.ensembles`) or the single model's, or ``uncertain`` with the
reason: ``low agreement`` (fewer than ``--min-agreement`` of the models give the label), ``low confidence``
(the models' mean probability for it is below ``--abstain-below``) or ``no face found``. An unreadable file is
reported as such and the other images go on.

Labels are canonical expression labels over every label some chosen model has; a model's probabilities are
laid out over that set with zeros for labels it lacks (the label-set rule with no dataset to restrict to).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import cv2
import numpy as np
import typer
from rich.table import Table

from ..datasets.common import IMAGE_SUFFIXES
from ..errors import FerbenchError
from ..labels import CANONICAL_LABELS
from ..models import create, resolve_models
from ..models.store import StoreSpec
from .app import ModelStores, app, console
from .predict_faces import detect_faces

NOTE = (
    "These are expression labels: what a face shows to a model, from one photo. They are not measurements "
    "of what the person feels."
)


def collect_images(target: str | os.PathLike[str]) -> list[Path]:
    """An image file, or every image under a folder (recursively, sorted)."""
    p = Path(target)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FerbenchError(f"{p}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
        return files
    raise FerbenchError(f"{p}: no such file or folder; give an image or a folder of images")


def _read(path: Path) -> np.ndarray | None:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return img if img is not None and img.size else None


def predict_images(
    target: str | os.PathLike[str],
    *,
    models: str | Sequence[str] = "all",
    model_store: StoreSpec = None,
    abstain_below: float = 0.5,
    min_agreement: float = 0.5,
    method: str = "mean",
) -> dict[str, Any]:
    """The JSON-ready answer for every image under ``target`` (see module docstring)."""
    from ..ensembles import NO_FACE  # the ensemble and metrics stack load scikit-learn: import on use
    from ..metrics.selective import check_threshold

    abstain_below = check_threshold(abstain_below, "--abstain-below")
    min_agreement = check_threshold(min_agreement, "--min-agreement")
    if method not in ("mean", "vote"):
        raise FerbenchError(f"--method '{method}' is not one of mean, vote")
    images = collect_images(target)
    cards = resolve_models(models, model_store)
    adapters = [create(c.id, model_store) for c in cards]
    present = {lab for c in cards for lab in c.canonical_classes}
    labels = [lab for lab in CANONICAL_LABELS if lab in present]
    cols = [CANONICAL_LABELS.index(lab) for lab in labels]
    results: list[dict[str, Any]] = []
    for path in images:
        img = _read(path)
        if img is None:
            results.append({"image": str(path), "status": "unreadable", "faces": [], "answer": None})
            continue
        faces = detect_faces(img, model_store)
        if not faces:
            results.append(
                {
                    "image": str(path),
                    "status": "ok",
                    "faces": [],
                    "answer": {"label": None, "uncertain": True, "reason": NO_FACE},
                }
            )
            continue
        crops = [crop for _, crop, _ in faces]
        # (n_faces, n_models, n_labels), zeros for labels a model lacks
        proba = np.stack(
            [np.nan_to_num(a.to_canonical(a.predict(crops))[:, cols], nan=0.0) for a in adapters], axis=1
        )
        proba = proba / proba.sum(axis=2, keepdims=True)
        pred = proba.argmax(axis=2)
        answers = _answers(pred, proba, method, min_agreement, abstain_below, labels)
        face_rows = []
        for i, (box, _, score) in enumerate(faces):
            face_rows.append(
                {
                    "box": [round(v, 1) for v in box],
                    "detector_score": round(score, 4),
                    "models": {
                        c.id: {
                            "label": labels[pred[i, j]],
                            "score": float(proba[i, j, pred[i, j]]),
                            "scores": {lab: float(proba[i, j, k]) for k, lab in enumerate(labels)},
                            "calibrated_scores": c.calibrated_scores,
                        }
                        for j, c in enumerate(cards)
                    },
                    "answer": answers[i],
                }
            )
        results.append({"image": str(path), "status": "ok", "faces": face_rows})
    return {
        "note": NOTE,
        "models": [c.id for c in cards],
        "labels": labels,
        "method": method if len(cards) > 1 else "single model",
        "abstain_below": abstain_below,
        "min_agreement": min_agreement if len(cards) > 1 else None,
        "images": results,
    }


def _answers(
    pred: np.ndarray,
    proba: np.ndarray,
    method: str,
    min_agreement: float,
    abstain_below: float,
    labels: Sequence[str],
) -> list[dict[str, Any]]:
    from ..ensembles import LOW_CONFIDENCE, combine

    n, m = pred.shape
    if m >= 2:
        out = combine(pred, proba, method, min_agreement, abstain_below)  # type: ignore[arg-type]
        raw, conf, agree, reason = out.raw_label, out.confidence, out.agreement, out.reason
    else:
        raw = pred[:, 0]
        conf = proba[np.arange(n), 0, raw]
        agree = np.full(n, np.nan)
        reason = np.where(conf < abstain_below, LOW_CONFIDENCE, "")
    rows = []
    for i in range(n):
        rows.append(
            {
                "label": None if reason[i] else labels[raw[i]],
                "uncertain": bool(reason[i]),
                "reason": reason[i] or None,
                "best_guess": labels[raw[i]],
                "confidence": float(conf[i]),
                "agreement": None if not np.isfinite(agree[i]) else float(agree[i]),
            }
        )
    return rows


def _answer_text(a: dict[str, Any] | None) -> str:
    if a is None:
        return "unreadable image"
    if a["uncertain"]:
        extra = (
            f" (best guess {a['best_guess']}, {100 * a['confidence']:.0f}%)" if a.get("best_guess") else ""
        )
        return f"uncertain: {a['reason']}{extra}"
    agree = f", {100 * a['agreement']:.0f}% of models agree" if a.get("agreement") is not None else ""
    return f"{a['label']} ({100 * a['confidence']:.0f}%{agree})"


def _face_table(i: int, face: dict[str, Any], model_ids: list[str]) -> Table:
    """One face: the answer first, then one row per model (reads at 80 columns with any number of models)."""
    x, y, w, h = face["box"]
    t = Table(title=f"face #{i + 1} at ({x:.0f},{y:.0f}) {w:.0f}x{h:.0f}", title_justify="left", box=None)
    t.add_column("", no_wrap=True)
    t.add_column("label", overflow="fold")
    t.add_column("score", justify="right", no_wrap=True)
    a = face["answer"]
    who = "ensemble" if len(model_ids) > 1 else "answer"
    if a["uncertain"]:
        t.add_row(
            f"[bold]{who}[/bold]",
            f"[bold]uncertain[/bold]: {a['reason']} (best guess {a['best_guess']})",
            f"{100 * a['confidence']:.0f}%",
        )
    else:
        agree = f", {100 * a['agreement']:.0f}% agree" if a.get("agreement") is not None else ""
        t.add_row(f"[bold]{who}[/bold]", f"[bold]{a['label']}[/bold]{agree}", f"{100 * a['confidence']:.0f}%")
    for mid in model_ids:
        r = face["models"][mid]
        mark = "" if r["calibrated_scores"] else "*"
        t.add_row(mid, r["label"], f"{100 * r['score']:.0f}%{mark}")
    return t


@app.command()
def predict(
    target: Annotated[Path, typer.Argument(help="An image file or a folder of images.")],
    models: Annotated[
        str, typer.Option(help="Comma-separated model ids, or 'all' (verified and present).")
    ] = "all",
    abstain_below: Annotated[
        float,
        typer.Option(
            help="Answer 'uncertain' when the (mean) probability of the label is below this (0..1)."
        ),
    ] = 0.5,
    min_agreement: Annotated[
        float,
        typer.Option(help="With several models: answer 'uncertain' when fewer than this share agree (0..1)."),
    ] = 0.5,
    method: Annotated[str, typer.Option(help="How several models combine: mean or vote.")] = "mean",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    model_store: ModelStores = None,
) -> None:
    """Label the facial expressions in photos, or say "uncertain" and why."""
    res = predict_images(
        target,
        models=models,
        model_store=model_store,
        abstain_below=abstain_below,
        min_agreement=min_agreement,
        method=method,
    )
    if as_json:
        typer.echo(json.dumps(res, indent=1))
        return
    for im in res["images"]:
        if im["status"] != "ok":
            console.print(f"[bold]{im['image']}[/bold]: unreadable image", highlight=False)
            continue
        if not im["faces"]:
            console.print(
                f"[bold]{im['image']}[/bold]: {_answer_text(im['answer'])}", highlight=False, soft_wrap=True
            )
            continue
        console.print(
            f"[bold]{im['image']}[/bold]: {len(im['faces'])} face(s)", highlight=False, soft_wrap=True
        )
        for i, f in enumerate(im["faces"]):
            console.print(_face_table(i, f, res["models"]))
    console.print(NOTE)
