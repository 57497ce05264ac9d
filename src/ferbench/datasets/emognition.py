"""Emognition (Saganowski et al., Scientific Data 2022): upper-body video of 43 participants watching film
clips chosen to elicit nine discrete emotions, with self-reports after every clip.

Layout (the dataset's companion repository, ``Emognition-wearable-dataset-2020``: ``helpers.py`` and
``questionnaires_analysis.ipynb``): one folder per participant id (22–64), each with
``<id>/<id>_questionnaires.json``::

    {"metadata": {"id": 22, "age": 23, "gender": "...", "movie_seen_before_study": {...}, ...},
     "questionnaires": [{"movie": "AMUSEMENT",
                         "emotions": {"AMUSEMENT": 4, "AWE": 1, ..., "SADNESS": 1},   # 1..5 ratings
                         "sam": {"VALENCE": 7, "AROUSAL": 5, "MOTIVATION": 6}}, ...]}  # 1..9 SAM

Films (``movie``): NEUTRAL, AMUSEMENT, ANGER, AWE, DISGUST, ENTHUSIASM, FEAR, LIKING, SADNESS, SURPRISE, and
BASELINE. Physiology files are ``<id>_<MOVIE>_<PHASE>_<DEVICE>.json`` (not used here). The face videos are
handed out separately and their file naming is not in the public documentation; the loader finds, anywhere
under the root, a video whose file name starts with ``<id>_<MOVIE>`` (``video_pattern`` changes this, e.g.
``"P{participant}_{movie}"``). A clip with no video becomes a sample whose file is missing, so a run records
``missing_file`` and ``ferbench datasets check`` lists it.

One sample per (participant, film). ``label`` is the canonical counterpart of the film's *target* emotion —
what the clip was chosen to elicit, not an annotation of the face: NEUTRAL→neutral, AMUSEMENT→happy,
ANGER→anger, DISGUST→disgust, FEAR→fear, SADNESS→sad, SURPRISE→surprise. AWE, ENTHUSIASM, LIKING (positive
states without a canonical expression) and BASELINE are excluded and counted (``no_canonical_label``) unless
``positive_as_happy=True`` maps the three positive films to happy, or a ``label_map`` says otherwise
(``"AWE=surprise,BASELINE=neutral"``). Columns: ``participant, movie, age, gender``, self-reports
``sr_<emotion>`` for the nine emotions and ``sr_valence, sr_arousal, sr_motivation``, and ``media=video``.
With ``fps`` the clips are expanded into sampled frames for the video stage (:func:`expand_frames`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from ..errors import DatasetError, SampleError
from .base import Dataset, Exclusions, finish, register_dataset, stamp_or_missing
from .common import VIDEO_SUFFIXES, is_hidden, rel
from .labelmap import LabelMapSpec, load_label_map

TARGETS = {
    "NEUTRAL": "neutral",
    "AMUSEMENT": "happy",
    "ANGER": "anger",
    "DISGUST": "disgust",
    "FEAR": "fear",
    "SADNESS": "sad",
    "SURPRISE": "surprise",
}
POSITIVE = ("AWE", "ENTHUSIASM", "LIKING")
MOVIES = tuple(TARGETS) + POSITIVE + ("BASELINE",)
EMOTIONS = ("AMUSEMENT", "AWE", "ENTHUSIASM", "LIKING", "SURPRISE", "ANGER", "DISGUST", "FEAR", "SADNESS")
SAM = ("VALENCE", "AROUSAL", "MOTIVATION")


def _videos(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not any(is_hidden(x) for x in p.parts)
    )


@register_dataset(
    "emognition", "Emognition: <id>/<id>_questionnaires.json + per-clip face videos; label = film target"
)
def load_emognition(
    root: Path,
    label_map: LabelMapSpec = None,
    positive_as_happy: bool = False,
    video_pattern: str = "{participant}_{movie}",
    fps: float | None = None,
) -> Dataset:
    qfiles = sorted(root.glob("*/*_questionnaires.json")) or sorted(root.glob("*/*/*_questionnaires.json"))
    if not qfiles:
        raise DatasetError(
            f"{root}: no <id>/<id>_questionnaires.json found (Emognition layout: one folder per participant)"
        )
    user = {k.strip().upper(): v for k, v in load_label_map(label_map).entries.items()}
    videos = _videos(root)
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    for qf in qfiles:
        where0 = rel(qf, root)
        try:
            doc = json.loads(qf.read_text(encoding="utf-8-sig"))
            meta = doc.get("metadata", {}) or {}
            questionnaires = doc["questionnaires"]
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as exc:
            ex.add(where0, "malformed_line", "", f"not an Emognition questionnaire file ({exc})")
            continue
        pid = str(meta.get("id", qf.parent.name))
        for k, q in enumerate(questionnaires):
            where = f"{where0}#questionnaires[{k}]"
            movie = str(q.get("movie", "")).strip().upper() if isinstance(q, dict) else ""
            label: str | None = None
            if movie in user:
                label = user[movie]
                if label is None:
                    ex.add(where, "excluded_by_map", movie, f"film {movie} is excluded by the label map")
                    continue
            elif movie in TARGETS:
                label = TARGETS[movie]
            elif movie in POSITIVE and positive_as_happy:
                label = "happy"
            elif movie in MOVIES:
                ex.add(
                    where,
                    "no_canonical_label",
                    movie,
                    f"film {movie} targets no canonical expression (positive_as_happy or a label map maps it)",
                )
                continue
            else:
                ex.add(where, "unknown_label", movie, f"film '{movie}' is not an Emognition film")
                continue
            prefix = video_pattern.format(participant=pid, movie=movie).lower()
            pat = re.compile(re.escape(prefix) + r"($|[^0-9a-z])")
            match = [v for v in videos if pat.match(v.stem.lower())]
            video = match[0] if match else qf.parent / f"{pid}_{movie}.mp4"
            emotions = q.get("emotions", {}) or {}  # type: ignore[union-attr]
            sam = q.get("sam", {}) or {}
            row: dict[str, object] = {
                "sample_id": f"{pid}/{movie}",
                "path": str(video),
                "label": label,
                "split": "all",
                "stamp": stamp_or_missing(video),
                "orig_label": movie,
                "media": "video",
                "participant": pid,
                "movie": movie,
                "age": meta.get("age"),
                "gender": meta.get("gender"),
            }
            for e in EMOTIONS:
                row[f"sr_{e.lower()}"] = emotions.get(e, emotions.get(e.lower()))
            for s in SAM:
                row[f"sr_{s.lower()}"] = sam.get(s, sam.get(s.lower()))
            if len(match) > 1:
                row["video_candidates"] = len(match)
            rows.append(row)
    clips = finish("emognition", root, rows, "Emognition (film clips; label = film target)", ex, "clips")
    return clips if fps is None else expand_frames(clips, fps)


def expand_frames(clips: Dataset, fps: float) -> Dataset:
    """One sample per frame sampled at ``fps`` from each clip, for the video stage (``ferbench run --fps``).

    Frame samples follow the ``video-folder`` convention: ``sample_id`` ``<clip>#f<k>``, ``clip_id`` (the clip's
    sample id), ``frame_index``, ``frame_time``, ``fps``; every clip column (self-reports, participant…) is kept.
    A clip whose video is missing or cannot be opened yields one sample that fails with the reason.
    """
    try:
        from .frames import n_samples, probe
        from .video import VideoDataset
    except ImportError:  # pragma: no cover - the video stage ships separately
        raise DatasetError("emognition: --fps needs the video stage (ferbench.datasets.video)") from None
    if fps <= 0:
        raise DatasetError(f"--fps must be positive, got {fps}")
    rows: list[dict[str, object]] = []
    broken: dict[str, str] = {}
    for clip in clips.samples.to_dict("records"):
        path = str(clip["path"])
        try:
            if clip["stamp"] == "missing":
                raise SampleError("missing_file", f"{path}: file not found")
            n = n_samples(probe(path), fps)
        except SampleError as exc:
            broken[path] = exc.detail
            n = 1  # one sample stands for the clip, so its failure is counted
        for k in range(n):
            rows.append(
                {
                    **clip,
                    "sample_id": f"{clip['sample_id']}#f{k:05d}",
                    "clip_id": clip["sample_id"],
                    "frame_index": k,
                    "frame_time": k / fps,
                    "fps": fps,
                    "stamp": f"{clip['stamp']}@{fps:g}fps",
                }
            )
    return VideoDataset(
        clips.name,
        clips.root,
        pd.DataFrame(rows),
        clips.description,
        excluded=clips.excluded,
        fps=fps,
        broken=broken,
    )
