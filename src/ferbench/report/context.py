"""Turn a run's metrics document and per-item table into what the report template shows.

Kept apart from the template so the template stays a layout, and so every number and word the report shows
is computed (and testable) in Python. Nothing here marks text as safe: dataset-derived strings stay plain
``str`` and the template's autoescaping handles them.

The report is a pure function of ``metrics.json`` and ``predictions.parquet``, so a run directory can be
re-rendered without re-running anything (:func:`ferbench.report.html.render_run_dir`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .figures import kappa_band

# Long tables are cut here; the report says how many rows are not shown and where the full list is.
MAX_FAILURE_ROWS = 100
MAX_DISAGREEMENT_ROWS = 12
# A model whose mean probability outside the evaluated labels exceeds this gets a "dropped mass" flag.
DROPPED_MASS_FLAG = 0.005
THUMBNAIL_PX = 64


@dataclass
class Flag:
    """A short warning badge on a model's row; ``detail`` becomes its tooltip and footnote."""

    text: str
    detail: str
    level: str = "warn"  # warn | info


@dataclass
class ModelRow:
    id: str
    n: int | None
    accuracy: float | None
    balanced_accuracy: float | None
    macro_f1: float | None
    n_failed: int
    failures: list[tuple[str, int]]
    flags: list[Flag]
    best: bool = False
    accuracy_open: float | None = None  # the open label rule's accuracy (the model's own arg-max)


@dataclass
class FailureRow:
    sample_id: str
    label: str
    reason: str
    message: str
    models: str


@dataclass
class DisagreementRow:
    sample_id: str
    label: str
    n_distinct: int
    predictions: list[tuple[str, str | None, float | None, bool]]  # model, label, confidence, matches dataset
    thumbnail: str | None = None  # data: URI of a small PNG (bytes we encoded, not dataset text)


@dataclass
class ReportContext:
    models: list[ModelRow]
    labels: list[str]
    per_class: list[dict[str, Any]]  # one row per label: {label, support, cells: [(precision, recall)...]}
    kappa_value: float | None
    kappa_band: str | None
    kappa_reason: str | None
    failures: list[FailureRow]
    n_failure_rows: int
    n_failed_samples: int
    disagreements: list[DisagreementRow]
    n_disagreeing: int
    n_compared: int
    best_model: str | None
    packages: list[tuple[str, str]] = field(default_factory=list)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def model_flags(s: Mapping[str, Any]) -> list[Flag]:
    """The warnings a reader needs before trusting a model's numbers."""
    flags: list[Flag] = []
    if s.get("verified") is False:
        flags.append(
            Flag(
                "unverified adapter",
                "this model's preprocessing and label order were not checked against reference outputs",
            )
        )
    missing = list(s.get("missing_labels") or [])
    if missing:
        flags.append(
            Flag(
                f"lacks {', '.join(map(str, missing))}",
                "the model has no such class, so it can never predict it; its recall there is 0",
            )
        )
    if s.get("calibrated_scores") is False:
        flags.append(
            Flag(
                "uncalibrated scores",
                "the model's outputs are not probabilities; they were renormalised, so confidences are only "
                "a ranking",
                "info",
            )
        )
    prep = s.get("face_prep") or {}
    if prep.get("note"):
        flags.append(Flag(f"face prep: {prep.get('applied')}", str(prep["note"]), "info"))
    dropped = _num(s.get("mean_dropped_mass"))
    extra = list(s.get("extra_labels") or [])
    if dropped is not None and dropped > DROPPED_MASS_FLAG:
        where = f" (on {', '.join(map(str, extra))})" if extra else ""
        flags.append(
            Flag(
                f"drops {100 * dropped:.1f}% mass",
                f"on average {100 * dropped:.1f}% of this model's probability fell on classes outside the "
                f"evaluated labels{where} and was removed before renormalising",
                "info",
            )
        )
    return flags


def _model_rows(models: Mapping[str, Mapping[str, Any]]) -> tuple[list[ModelRow], str | None]:
    rows = []
    for mid, s in models.items():
        failures = sorted(
            ((str(k), int(v)) for k, v in (s.get("failures") or {}).items()), key=lambda t: -t[1]
        )
        rows.append(
            ModelRow(
                id=str(mid),
                n=s.get("n"),
                accuracy=_num(s.get("accuracy")),
                balanced_accuracy=_num(s.get("balanced_accuracy")),
                macro_f1=_num(s.get("macro_f1")),
                n_failed=int(s.get("n_failed") or 0),
                failures=failures,
                flags=model_flags(s),
                accuracy_open=_num(((s.get("by_label_rule") or {}).get("open") or {}).get("accuracy")),
            )
        )
    scored = [r for r in rows if r.balanced_accuracy is not None]
    best = max(scored, key=lambda r: r.balanced_accuracy or 0.0).id if len(scored) > 1 else None
    for r in rows:
        r.best = r.id == best
    return rows, best


def _per_class(models: Mapping[str, Mapping[str, Any]], labels: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for lab in labels:
        cells, support = [], None
        for s in models.values():
            pc = (s.get("per_class") or {}).get(lab) or {}
            cells.append((_num(pc.get("precision")), _num(pc.get("recall"))))
            if support is None and pc.get("support") is not None:
                support = int(pc["support"])
        out.append({"label": lab, "support": support, "cells": cells})
    return out


def _short_message(message: str, path: str, reason: str, sample_id: str = "") -> str:
    """The detail of a stored per-sample error, without what the row already shows.

    Stored errors read ``"<reason>: <path>: <detail>"`` (:class:`ferbench.errors.SampleError`); the table has
    the reason and the file in their own columns, so only the detail is repeated here.
    """
    text = message
    if reason and text.startswith(reason + ": "):
        text = text[len(reason) + 2 :]
    if path and text.startswith(path):
        text = text[len(path) :].strip()
        if sample_id and text.startswith(f"[{sample_id}]"):  # pixel-file rows name their id too
            text = text[len(sample_id) + 2 :]
        text = text.lstrip(":").strip()
    return text or message


def failure_rows(predictions: pd.DataFrame | None, model_ids: Sequence[str]) -> tuple[list[FailureRow], int]:
    """One row per (sample, reason, message): which file failed, why, and for which models."""
    if predictions is None or predictions.empty or "status" not in predictions.columns:
        return [], 0
    bad = predictions[predictions["status"] != "ok"]
    if bad.empty:
        return [], 0
    cols = ["sample_id", "label", "status", "error", "path"]
    bad = bad.assign(**{c: bad[c] if c in bad.columns else "" for c in cols})
    bad = bad.fillna({"error": "", "label": "", "path": ""})
    rows = []
    everyone = set(model_ids)
    for (sid, label, status, error, path), grp in bad.groupby(cols, sort=True, dropna=False):
        who = [m for m in model_ids if m in set(grp["model_id"])]
        rows.append(
            FailureRow(
                sample_id=str(sid),
                label=str(label),
                reason=str(status),
                message=_short_message(str(error), str(path), str(status), str(sid)),
                models="all models" if set(who) >= everyone and len(everyone) > 1 else ", ".join(who),
            )
        )
    return rows[:MAX_FAILURE_ROWS], len(rows)


def _thumbnail(path: str) -> str | None:
    """A small PNG data URI of the sample image, or None if the file is not there any more."""
    import cv2

    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    scale = THUMBNAIL_PX / max(img.shape[:2])
    if scale < 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", img)
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii") if ok else None


def disagreement_rows(
    predictions: pd.DataFrame | None,
    model_ids: Sequence[str],
    labels: Sequence[str],
    thumbnails: bool = True,
) -> tuple[list[DisagreementRow], int, int]:
    """The samples the models split on most, with what each model said.

    A model's label here follows the label-set rule (arg-max over the evaluated labels), so it matches the
    metrics. Returns (rows shown, samples where not all models agree, samples every model scored).
    """
    prob_cols = [f"p_{lab}" for lab in labels]
    if predictions is None or len(model_ids) < 2 or not set(prob_cols) <= set(predictions.columns):
        return [], 0, 0
    ok = predictions[(predictions["status"] == "ok") & predictions["model_id"].isin(model_ids)]
    if ok.empty:
        return [], 0, 0
    probs = ok[prob_cols].to_numpy(dtype=np.float64)
    probs = np.nan_to_num(probs, nan=-1.0)
    total = np.clip(np.where(probs > 0, probs, 0).sum(axis=1), 1e-300, None)
    table = pd.DataFrame(
        {
            "sample_id": ok["sample_id"].to_numpy(),
            "model_id": ok["model_id"].to_numpy(),
            "pred": np.asarray(labels, dtype=object)[probs.argmax(axis=1)],
            "conf": probs.max(axis=1) / total,
        }
    )
    pred = table.pivot(index="sample_id", columns="model_id", values="pred").reindex(columns=list(model_ids))
    conf = table.pivot(index="sample_id", columns="model_id", values="conf").reindex(columns=list(model_ids))
    complete = pred.notna().all(axis=1)
    pred, conf = pred[complete], conf[complete]
    if pred.empty:
        return [], 0, 0
    meta = ok.drop_duplicates("sample_id").set_index("sample_id")
    truth = meta["label"].reindex(pred.index).astype(str) if "label" in meta.columns else None
    distinct = pred.nunique(axis=1)
    # Most distinct labels first; then samples where fewer models match the dataset label; then by id.
    matches = pred.eq(truth, axis=0).sum(axis=1) if truth is not None else pd.Series(0, index=pred.index)
    order = pd.DataFrame({"d": -distinct, "m": matches, "id": pred.index}, index=pred.index)
    order = order[distinct > 1].sort_values(["d", "m", "id"])
    rows = []
    for sid in order.index[:MAX_DISAGREEMENT_ROWS]:
        lab = str(truth[sid]) if truth is not None else ""
        row = DisagreementRow(
            sample_id=str(sid),
            label=lab,
            n_distinct=int(distinct[sid]),
            predictions=[
                (m, str(pred.at[sid, m]), _num(conf.at[sid, m]), str(pred.at[sid, m]) == lab)
                for m in model_ids
            ],
        )
        if thumbnails and "path" in meta.columns:
            row.thumbnail = _thumbnail(str(meta.at[sid, "path"]))
        rows.append(row)
    return rows, int((distinct > 1).sum()), int(len(pred))


def build_context(
    m: Mapping[str, Any], predictions: pd.DataFrame | None = None, thumbnails: bool = True
) -> ReportContext:
    models = m.get("models") or {}
    labels = [str(x) for x in (m.get("labels") or [])]
    if not labels:
        for s in models.values():
            if s.get("labels"):
                labels = [str(x) for x in s["labels"]]
                break
    rows, best = _model_rows(models)
    agreement = m.get("agreement") or {}
    fk = agreement.get("fleiss_kappa") or {}
    kappa = _num(fk.get("value"))
    ids = [str(k) for k in models]
    failures, n_failure_rows = failure_rows(predictions, ids)
    n_failed_samples = (
        int(predictions.loc[predictions["status"] != "ok", "sample_id"].nunique())
        if predictions is not None and "status" in predictions.columns
        else max((r.n_failed for r in rows), default=0)
    )
    dis, n_dis, n_cmp = disagreement_rows(predictions, ids, labels, thumbnails)
    prov = m.get("provenance") or {}
    return ReportContext(
        models=rows,
        labels=labels,
        per_class=_per_class(models, labels),
        kappa_value=kappa,
        kappa_band=kappa_band(kappa),
        kappa_reason=fk.get("reason"),
        failures=failures,
        n_failure_rows=n_failure_rows,
        n_failed_samples=n_failed_samples,
        disagreements=dis,
        n_disagreeing=n_dis,
        n_compared=n_cmp,
        best_model=best,
        packages=sorted((str(k), str(v)) for k, v in (prov.get("packages") or {}).items()),
    )
