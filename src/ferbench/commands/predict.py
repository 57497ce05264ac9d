"""``ferbench predict IMAGE_OR_FOLDER``: expression labels for the faces in photos, or an honest "uncertain".

Per image: the faces found; per face every model's label and score; then one answer: the ensemble's label
(two or more models; rules in :mod:`ferbench.ensembles`) or the single model's, or ``uncertain`` with the
reason: ``low agreement`` (fewer than ``--min-agreement`` of the models give the label), ``low confidence``
(the models' mean probability for it is below ``--abstain-below``) or ``no face found``. An unreadable file is
reported as such and the other images go on.

With ``--calibration RUN_DIR`` (a run made with ``--conformal`` and ``--calibrate-on``) each face also gets a
*prediction set* from the thresholds that run stored in ``conformal.json``: "happy" for a one-label set, "happy or
surprise (90 % sets)" for a small one, "uncertain" when it holds more than ``--max-set-size`` labels. The output
names the run, its calibration split, the level, the set rule and the label set; probabilities are then laid out
over the run's labels (restricted and renormalised as in the run), and models must be those the run calibrated
(same weights). Without a run there are no calibrated sets, and predict says so rather than inventing thresholds.

Faces: :mod:`ferbench.faces`' YuNet detector (the run's face stage, sha256-verified), at full resolution (as
the models' upstream reference outputs were made), every face, largest first. Each model gets the crop its card
declares, as ``ferbench run --faces yunet`` gives it: the shared square crop (box squared, grown 10 % per side),
or its authors' own (``square_box``, 5-point ``align5``).

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
from ..faces import Detector, Face, crop_square, get_detector
from ..faces.prep import prepare_face
from ..labels import CANONICAL_LABELS
from ..models import ModelCard, create, resolve_models
from ..models.store import StoreSpec
from .app import ModelStores, app, console

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


NO_SETS = (
    "no calibrated sets: give --calibration RUN_DIR, a run made with --conformal LEVEL --calibrate-on SPLIT, "
    "to answer with prediction sets"
)


def load_set_rule(
    run_dir: str | os.PathLike[str],
    model_ids: Sequence[str],
    sha256: dict[str, str],
    method: str,
    level: float | None,
    rule: str | None,
) -> tuple[Any, dict[str, Any]]:
    """The :class:`~ferbench.metrics.conformal.ConformalCalibration` a run stored for these models, and what
    it was fitted on (run, dataset, calibration split, level, rule, labels, predictor)."""
    from ..api import CONFORMAL_FILE
    from ..metrics.conformal import ConformalCalibration

    path = Path(run_dir) / CONFORMAL_FILE
    if not path.is_file():
        raise FerbenchError(
            f"{path}: not found; --calibration needs a run made with --conformal LEVEL --calibrate-on SPLIT"
        )
    try:
        doc = json.loads(path.read_text())
        table = doc["thresholds"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise FerbenchError(f"{path}: not a ferbench conformal.json ({exc})") from None
    levels = list(table)
    lv = levels[0] if level is None else f"{level:g}"
    if lv not in table:
        raise FerbenchError(f"{path}: no {lv} sets; this run calibrated levels {', '.join(levels)}")
    rule = rule or str(doc.get("headline") or "lac")
    if rule not in table[lv]:
        raise FerbenchError(f"{path}: no '{rule}' sets at {lv}; rules: {', '.join(table[lv])}")
    for mid in model_ids:
        if mid not in doc["models"]:
            raise FerbenchError(
                f"{path}: model '{mid}' was not in that run (its models: {', '.join(doc['models'])})"
            )
        if doc["models"][mid] and sha256.get(mid) and doc["models"][mid] != sha256[mid]:
            raise FerbenchError(
                f"{path}: model '{mid}' has other weights than in that run; its thresholds do not apply"
            )
    if len(model_ids) == 1:
        kind, name = "models", model_ids[0]
    else:
        found = [
            n
            for n, e in (doc.get("ensembles") or {}).items()
            if set(e["members"]) == set(model_ids) and e["method"] == method
        ]
        if not found:
            raise FerbenchError(
                f"{path}: that run calibrated no {method} ensemble of exactly these models; choose its models "
                f"({', '.join(doc['models'])}) or one of them"
            )
        kind, name = "ensembles", found[0]
    entry = table[lv][rule].get(kind, {}).get(name)
    if entry is None:
        raise FerbenchError(f"{path}: the run has no calibrated '{rule}' sets for {name} (refused there)")
    try:
        cal = ConformalCalibration.from_dict(entry)
    except KeyError as exc:
        raise FerbenchError(
            f"{path}: the '{rule}' sets of {name} lack {exc} (written by an older ferbench); re-run that run "
            "with the same --out to refresh conformal.json, or choose another --set-rule"
        ) from None
    info = {
        "run": str(Path(run_dir)),
        "dataset": doc.get("dataset"),
        "calibration_split": (doc.get("calibration") or {}).get("name"),
        "evaluated_split": doc.get("evaluated_split"),
        "confidence_level": cal.confidence_level,
        "rule": rule,
        "label_rule": doc.get("label_rule"),
        "labels": list(cal.labels),
        "predictor": name,
        "randomized": cal.randomized,
        **({"thresholds": entry["thresholds"]} if cal.mondrian else {"threshold": entry["threshold"]}),
    }
    return cal, info


def set_answer(labels: Sequence[str], members: np.ndarray, level: float, max_set_size: int) -> dict[str, Any]:
    """A face's set in words: one label, "a or b (90 % sets)", or "uncertain" beyond ``max_set_size``."""
    chosen = [labels[int(j)] for j in np.flatnonzero(members)]
    pct = f"{100 * level:g} % sets"
    if not chosen:
        text = f"uncertain (empty {pct} set)"
    elif len(chosen) > max_set_size:
        text = f"uncertain ({len(chosen)} labels in the {pct[:-1]})"
    elif len(chosen) == 1:
        text = chosen[0]
    else:
        text = f"{' or '.join(chosen)} ({pct})"
    return {
        "labels": chosen,
        "size": len(chosen),
        "text": text,
        "uncertain": not 0 < len(chosen) <= max_set_size,
    }


def _faces(img: np.ndarray, detector: Detector) -> list[Face]:
    """Every face the detector finds, largest first, each with the shared crop (a box wholly outside the image
    is dropped: there is nothing to crop)."""
    kept = []
    for f in detector.detect(img):
        try:
            f.crop = crop_square(img, f.box)
        except ValueError:
            continue
        kept.append(f)
    return kept


def _crops(img: np.ndarray, faces: Sequence[Face], card: ModelCard) -> list[np.ndarray]:
    """The crops one model sees: the shared one, or the preparation its card declares."""
    prep = card.face_prep
    if prep.kind == "shared":
        return [f.crop for f in faces]  # type: ignore[misc]
    return [prepare_face(img, f, prep) for f in faces]


def predict_images(
    target: str | os.PathLike[str],
    *,
    models: str | Sequence[str] = "all",
    model_store: StoreSpec = None,
    abstain_below: float = 0.5,
    min_agreement: float = 0.5,
    method: str = "mean",
    calibration: str | os.PathLike[str] | None = None,
    level: float | None = None,
    set_rule: str | None = None,
    max_set_size: int = 2,
) -> dict[str, Any]:
    """The JSON-ready answer for every image under ``target`` (see module docstring)."""
    from ..ensembles import NO_FACE  # the ensemble and metrics stack load scikit-learn: import on use
    from ..metrics.selective import check_threshold

    abstain_below = check_threshold(abstain_below, "--abstain-below")
    min_agreement = check_threshold(min_agreement, "--min-agreement")
    if method not in ("mean", "vote"):
        raise FerbenchError(f"--method '{method}' is not one of mean, vote")
    images = collect_images(target)
    if max_set_size < 1:
        raise FerbenchError(f"--max-set-size must be at least 1, got {max_set_size}")
    cards = resolve_models(models, model_store)
    rule_cal, sets_info = None, None
    if calibration is not None:
        rule_cal, sets_info = load_set_rule(
            calibration,
            [c.id for c in cards],
            {c.id: c.artifact.sha256 or "" for c in cards},
            method,
            level,
            set_rule,
        )
    adapters = [create(c.id, model_store) for c in cards]
    detector = get_detector("yunet", model_store, max_side=0)
    if rule_cal is not None:
        labels = list(rule_cal.labels)  # the run's evaluated labels: its thresholds hold over these only
    else:
        present = {lab for c in cards for lab in c.canonical_classes}
        labels = [lab for lab in CANONICAL_LABELS if lab in present]
    cols = [CANONICAL_LABELS.index(lab) for lab in labels]
    results: list[dict[str, Any]] = []
    for path in images:
        img = _read(path)
        if img is None:
            results.append({"image": str(path), "status": "unreadable", "faces": [], "answer": None})
            continue
        faces = _faces(img, detector)
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
        # (n_faces, n_models, n_labels), zeros for labels a model lacks
        proba = np.stack(
            [
                np.nan_to_num(a.to_canonical(a.predict(_crops(img, faces, c)))[:, cols], nan=0.0)
                for c, a in zip(cards, adapters, strict=True)
            ],
            axis=1,
        )
        total = proba.sum(axis=2, keepdims=True)
        proba = np.divide(proba, total, out=np.zeros_like(proba), where=total > 0)
        pred = proba.argmax(axis=2)
        answers = _answers(pred, proba, method, min_agreement, abstain_below, labels)
        if rule_cal is not None:
            from ..ensembles import combine
            from ..metrics.bootstrap import rng_for

            vec = proba[:, 0] if len(cards) == 1 else combine(pred, proba, method).proba  # type: ignore[arg-type]
            members = rule_cal.predict_sets(vec, rng=rng_for(0, str(path)))
            for i, a in enumerate(answers):
                a["set"] = set_answer(labels, members[i], rule_cal.confidence_level, max_set_size)
        face_rows = []
        for i, f in enumerate(faces):
            face_rows.append(
                {
                    "box": [round(float(v), 1) for v in f.box],
                    "detector_score": round(f.score, 4),
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
        "sets": sets_info,
        **({} if sets_info else {"sets_note": NO_SETS}),
        "max_set_size": max_set_size,
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
    if a.get("set") is not None:
        return str(a["set"]["text"])
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
    if a.get("set") is not None:
        t.add_row(f"[bold]{who}[/bold]", f"[bold]{a['set']['text']}[/bold]", f"{100 * a['confidence']:.0f}%")
    elif a["uncertain"]:
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
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="Answer with prediction sets from the thresholds this run stored (a run made with "
            "--conformal LEVEL --calibrate-on SPLIT)."
        ),
    ] = None,
    level: Annotated[
        float | None, typer.Option(help="Which of the run's levels to use (default: its first).")
    ] = None,
    set_rule: Annotated[
        str | None,
        typer.Option(help="Which of the run's set rules (lac, aps, …; default: the run's headline)."),
    ] = None,
    max_set_size: Annotated[
        int, typer.Option(help="Answer 'uncertain' when the set holds more labels than this.")
    ] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    model_store: ModelStores = None,
) -> None:
    """Label the facial expressions in photos, or say "uncertain" and why; with --calibration, answer with sets."""
    res = predict_images(
        target,
        models=models,
        model_store=model_store,
        abstain_below=abstain_below,
        min_agreement=min_agreement,
        method=method,
        calibration=calibration,
        level=level,
        set_rule=set_rule,
        max_set_size=max_set_size,
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
    si = res["sets"]
    if si:
        th = si.get("threshold", si.get("thresholds"))
        console.print(
            f"Sets: {100 * si['confidence_level']:g} % {si['rule']} sets of {si['predictor']} from run {si['run']} "
            f"({si['dataset']}, calibrated on {si['calibration_split']}, {si['label_rule']} label rule, labels "
            f"{', '.join(si['labels'])}); threshold {th}"
            + (
                " (labels scored near it are drawn at random per face, seeded by the image path)"
                if si.get("randomized")
                else ""
            )
            + ". The guarantee holds for faces like that run's.",
            highlight=False,
            soft_wrap=True,  # one line, never cut: it carries a path and the exact threshold
        )
    else:
        console.print(f"Answers without sets: {NO_SETS}.", highlight=False)
    console.print(NOTE)
