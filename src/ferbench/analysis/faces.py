"""``faces`` and ``video`` sections of ``metrics.json``.

``faces`` (when the run used a face stage) counts, per dataset, what the detector did: images in which it
found no face (the *miss rate*; on a dataset of face images every such image is a detector failure), images
with several faces and what the multi-face policy did with them, the detector's scores, and the miss rate
per expression label (detectors miss some expressions more than others, which biases what gets evaluated).

``video`` (when samples carry ``clip_id``) aggregates frame predictions per clip (mean probabilities and
majority label, see :mod:`ferbench.faces.temporal`), scores clips against the clip label, and reports each
model's temporal stability: how often its label flips between adjacent sampled frames of the same face.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..evaluate import EvalContext
from ..faces.temporal import clip_results
from ..sections import section

FACE_OUTCOMES = ("ok", "no_face", "multiple_faces")


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def faces_summary(samples: pd.DataFrame) -> dict[str, Any]:
    """Detector outcome counts over the source images of a face-stage sample table."""
    per_image = samples.drop_duplicates("source_id")
    status = per_image["det_status"].astype(str)
    decoded = status.isin(FACE_OUTCOMES)
    n_img = len(per_image)
    n_dec = int(decoded.sum())
    n_none = int((status == "no_face").sum())
    nf = per_image.loc[decoded, "n_faces"].astype(int)
    kept = samples[samples["det_status"] == "ok"]
    scores = kept["det_score"].astype(float)
    by_label: dict[str, Any] = {}
    for lab, g in per_image[decoded].groupby("label", sort=True):
        miss = int((g["det_status"] == "no_face").sum())
        by_label[str(lab)] = {"n_images": len(g), "n_no_face": miss, "miss_rate": _rate(miss, len(g))}
    return {
        "n_images": n_img,
        "n_decoded": n_dec,
        "n_unreadable": n_img - n_dec,
        "n_with_face": int((nf > 0).sum()),
        "n_no_face": n_none,
        "miss_rate": _rate(n_none, n_dec),
        "n_multiple_faces": int((nf > 1).sum()),
        "n_skipped_multiple": int((status == "multiple_faces").sum()),
        "faces_per_image": {str(k): int(v) for k, v in nf.value_counts().sort_index().items()},
        "n_faces_found": int(nf.sum()),
        "n_face_samples": len(kept),
        "score_mean": float(scores.mean()) if len(scores) else None,
        "score_min": float(scores.min()) if len(scores) else None,
        "outcomes": {str(k): int(v) for k, v in status.value_counts().items()},
        "by_label": by_label,
    }


@section("faces", title="Face stage", order=110, template="faces.html.j2")
def faces_section(ctx: EvalContext) -> dict[str, Any] | None:
    info = ctx.options.get("faces")
    if not info or "det_status" not in ctx.samples.columns:
        return None
    out = dict(info)
    out.update(faces_summary(ctx.samples))
    out["miss_rate_definition"] = (
        "images where the detector found no face / images that could be decoded; with --faces dataset, "
        "samples without a dataset face box"
    )
    return out


@section("video", title="Video", order=120, template="video.html.j2")
def video_section(ctx: EvalContext) -> dict[str, Any] | None:
    s = ctx.samples
    if "clip_id" not in s.columns or "frame_index" not in s.columns:
        return None
    ev = ctx.ev
    clip_ids = s["clip_id"].astype(str).to_numpy()
    frames = s["frame_index"].astype(int).to_numpy()
    tracks = s["face_index"].astype(int).to_numpy() if "face_index" in s.columns else np.zeros(len(s), int)
    labels = list(ev.labels)
    clip_label = s.groupby("clip_id", sort=False)["label"].first()
    clip_truth = {str(c): labels.index(lab) if lab in labels else -1 for c, lab in clip_label.items()}
    models: dict[str, Any] = {}
    clips: dict[str, Any] = {
        c: {"label": clip_label[c], "n_frames": int((clip_ids == c).sum()), "models": {}} for c in clip_truth
    }
    for j, mid in enumerate(ev.model_ids):
        res = clip_results(clip_ids, tracks, frames, ev.pred[:, j], ev.proba[:, j])
        scored = [c for c, r in res.items() if r.n_scored > 0 and clip_truth[c] >= 0]
        pairs = sum(r.n_pairs for r in res.values())
        flips = sum(r.n_flips for r in res.values())
        models[mid] = {
            "n_clips_scored": len(scored),
            "clip_accuracy_mean": _rate(sum(res[c].mean_label == clip_truth[c] for c in scored), len(scored)),
            "clip_accuracy_majority": _rate(
                sum(res[c].majority_label == clip_truth[c] for c in scored), len(scored)
            ),
            "n_pairs": pairs,
            "n_flips": flips,
            "flip_rate": _rate(flips, pairs),
        }
        for c, r in res.items():
            clips[c]["models"][mid] = {
                "n_scored": r.n_scored,
                "mean_label": labels[r.mean_label] if r.mean_label >= 0 else None,
                "majority_label": labels[r.majority_label] if r.majority_label >= 0 else None,
                "n_pairs": r.n_pairs,
                "n_flips": r.n_flips,
            }
    fps = s["fps"].iloc[0] if "fps" in s.columns and len(s) else None
    return {
        "fps": float(fps) if fps is not None else None,
        "n_clips": len(clips),
        "n_frames": int(s.drop_duplicates("source_id" if "source_id" in s.columns else "sample_id").shape[0]),
        "aggregation": "clip label = arg-max of the mean of scored frames' restricted probabilities (mean), "
        "or the most frequent frame label, ties to the higher mean probability (majority)",
        "stability": "flip rate = label changes / pairs of adjacent sampled frames of the same face track "
        "that the model scored; under --multi-face all a track is the k-th largest face, not an identity",
        "models": models,
        "clips": clips,
    }
