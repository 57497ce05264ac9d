"""CK+ (Extended Cohn-Kanade; Lucey et al., 2010), in the official layout and the common CK+48 folders.

``ckplus`` — the official distribution:
  ``cohn-kanade-images/S005/001/S005_001_00000011.png`` (one folder per subject and sequence, frames numbered
  from onset to peak) and ``Emotion/S005/001/S005_001_00000011_emotion.txt`` holding one float code
  (``   3.0000000e+00``): 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise.
  The emotion file names the sequence's last (peak) frame, which becomes the sample. Only 327 of the 593
  sequences carry an emotion file; unlabelled sequences yield no sample. ``FACS/.../*_facs.txt`` (AU and
  intensity per line) and ``Landmarks/.../*_landmarks.txt`` (68 ``x y`` lines) are carried when present.
  ``first_frame_neutral=True`` adds each labelled sequence's first frame as a ``neutral`` sample (role
  ``onset``), the usual way to get neutral faces from CK+. The archives unpack as
  ``extended-cohn-kanade-images/cohn-kanade-images`` and ``Emotion_labels/Emotion`` etc.; both forms are found.

``ckplus48`` — the common 48x48 copy: ``<class>/S010_004_00000017.png`` with class folders ``anger contempt
  disgust fear happy sadness surprise`` (the last three frames of each labelled sequence). Subject, sequence
  and frame come from the file name; frames of one sequence are near-duplicates, so group by ``subject``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Dataset, Exclusions, finish, register_dataset, stamp_or_missing
from .common import IMAGE_SUFFIXES, find_dir, is_hidden, iter_files, read_lines, rel

CODES: dict[int, tuple[str, str]] = {
    0: ("neutral", "neutral"),
    1: ("anger", "anger"),
    2: ("contempt", "contempt"),
    3: ("disgust", "disgust"),
    4: ("fear", "fear"),
    5: ("happy", "happy"),
    6: ("sadness", "sad"),
    7: ("surprise", "surprise"),
}
FOLDERS48 = {
    "anger": "anger",
    "contempt": "contempt",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sadness": "sad",
    "surprise": "surprise",
}
EMOTION_RE = re.compile(r"^(S\d+)_(\d+)_(\d+)_emotion\.txt$")
FRAME_RE = re.compile(r"^(S\d+)_(\d+)_(\d+)\.(png|jpg|jpeg)$", re.IGNORECASE)


def _facs(path: Path) -> str:
    if not path.is_file():
        return ""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        vals = line.split()
        if len(vals) >= 2:
            try:
                out.append(f"{int(float(vals[0]))}:{int(float(vals[1]))}")
            except ValueError:
                continue
    return ";".join(out)


def _landmarks(path: Path) -> str:
    if not path.is_file():
        return ""
    pts = []
    for line in path.read_text(errors="replace").splitlines():
        vals = line.split()
        if len(vals) >= 2:
            try:
                pts.append(f"{float(vals[0]):g},{float(vals[1]):g}")
            except ValueError:
                continue
    return ";".join(pts)


@register_dataset(
    "ckplus", "CK+ official: cohn-kanade-images/S*/*/ + Emotion/S*/*/*_emotion.txt (peak frames)"
)
def load_ckplus(root: Path, first_frame_neutral: bool = False) -> Dataset:
    images = find_dir(
        root,
        ["cohn-kanade-images", "extended-cohn-kanade-images/cohn-kanade-images"],
        "CK+ image folder cohn-kanade-images/",
    )
    emotion = find_dir(root, ["Emotion", "Emotion_labels/Emotion"], "CK+ label folder Emotion/")
    assert images is not None and emotion is not None
    facs = find_dir(root, ["FACS", "FACS_labels/FACS"], "", required=False)
    lms = find_dir(root, ["Landmarks", "Landmarks/Landmarks"], "", required=False)
    if lms is not None and (lms / "Landmarks").is_dir():
        lms = lms / "Landmarks"
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    for efile in sorted(emotion.rglob("*_emotion.txt")):
        if any(is_hidden(p) for p in efile.relative_to(emotion).parts):
            continue
        where = rel(efile, root)
        m = EMOTION_RE.match(efile.name)
        if not m:
            ex.add(where, "bad_name", "", "emotion file name is not S<subject>_<seq>_<frame>_emotion.txt")
            continue
        subject, seq, frame = m.groups()
        values = [v for line in read_lines(efile) for v in line.split()]
        try:
            fcode = float(values[0]) if len(values) == 1 else float("nan")
        except ValueError:
            fcode = float("nan")
        code = int(fcode) if fcode == fcode and float(fcode).is_integer() else -1
        if code not in CODES:
            ex.add(where, "unknown_label", " ".join(values), "emotion code is not one of 0..7")
            continue
        seq_dir = images / subject / seq
        peak = seq_dir / f"{subject}_{seq}_{frame}.png"
        stem = f"{subject}_{seq}_{frame}"
        base = {"subject": subject, "sequence": seq, "emotion_code": code}
        name, canon = CODES[code]
        rows.append(
            {
                "sample_id": rel(peak, images),
                "path": str(peak),
                "label": canon,
                "split": "all",
                "stamp": stamp_or_missing(peak),
                "orig_label": name,
                **base,
                "frame": int(frame),
                "role": "peak",
                "facs": _facs(facs / subject / seq / f"{stem}_facs.txt") if facs else "",
                "landmarks": _landmarks(lms / subject / seq / f"{stem}_landmarks.txt") if lms else "",
            }
        )
        if first_frame_neutral:
            frames = (
                [p for p in iter_files(seq_dir, IMAGE_SUFFIXES, recursive=False, skipped=ex)]
                if seq_dir.is_dir()
                else []
            )
            if frames and frames[0] != peak:
                first = frames[0]
                fm = FRAME_RE.match(first.name)
                rows.append(
                    {
                        "sample_id": rel(first, images),
                        "path": str(first),
                        "label": "neutral",
                        "split": "all",
                        "stamp": stamp_or_missing(first),
                        "orig_label": "neutral (first frame)",
                        **base,
                        "frame": int(fm.group(3)) if fm else 0,
                        "role": "onset",
                        "facs": "",
                        "landmarks": "",
                    }
                )
    return finish("ckplus", root, rows, "CK+ (peak frames of labelled sequences)", ex, "labelled sequences")


@register_dataset(
    "ckplus48", "CK+48 folders: <anger|contempt|disgust|fear|happy|sadness|surprise>/S*_*_*.png"
)
def load_ckplus48(root: Path) -> Dataset:
    base = root
    if not any((root / f).is_dir() for f in FOLDERS48):
        found = find_dir(root, ["CK+48", "ck+48", "CK48"], "CK+48 class folders (anger/ contempt/ ...)")
        assert found is not None
        base = found
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not is_hidden(p)):
        canon = FOLDERS48.get(folder.name.lower())
        for f in iter_files(folder, IMAGE_SUFFIXES, skipped=ex):
            where = rel(f, root)
            if canon is None:
                ex.add(
                    where, "unknown_label", folder.name, f"class folder '{folder.name}' is not a CK+48 class"
                )
                continue
            m = FRAME_RE.match(f.name)
            rows.append(
                {
                    "sample_id": rel(f, base),
                    "path": str(f),
                    "label": canon,
                    "split": "all",
                    "stamp": stamp_or_missing(f),
                    "orig_label": folder.name,
                    "subject": m.group(1) if m else "",
                    "sequence": m.group(2) if m else "",
                    "frame": int(m.group(3)) if m else -1,
                }
            )
    return finish("ckplus48", root, rows, "CK+48 (class folders)", ex)
