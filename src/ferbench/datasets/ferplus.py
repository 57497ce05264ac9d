"""FER+ : ten crowd annotators' votes for every FER2013 face, kept as a vote matrix.

FER+ (Barsoum et al. 2016) has no images of its own: it relabels the faces of the original FER2013 pixel file.
Two official label layouts, both read here:

* ``fer2013new.csv``: header ``Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,
  contempt,unknown,NF``; one row per row of ``fer2013.csv``, in the same order, so the join to the pixel file
  is by *row position* (as FER+'s own ``generate_training_data.py`` does). ``Image name`` is the PNG name that
  script writes, or empty where the face was judged not a face. The names are *not* row numbers: in the real
  file they drift from the row index and four names occur twice, so they are never used to join.
* ``data/FER2013{Train,Valid,Test}/label.csv`` (no header): ``image name, "(x, y, w, h)" face box``, then the
  ten vote counts; Train/Valid/Test are FER2013's Training/PublicTest/PrivateTest. These files carry no row
  position; they describe the PNGs that ``generate_training_data.py`` writes into the same folders, so this
  layout is read with those images (``data/<folder>/<name>``). In the real release about 4.5% of faces have
  slightly different votes here than in ``fer2013new.csv``; when both exist, ``fer2013new.csv`` is used.

Votes are kept as columns ``votes_<canonical label>`` for the eight expression labels plus ``votes_unknown``
and ``votes_nf`` ("not a face"). The dataset ``label`` is derived from the votes by a stated rule:

* ``plurality`` (default): the expression label with the most votes; a tie for first place, or no expression
  votes at all, leaves the face without a label (left out of the sample table, counted in the loader report);
* ``majority``: the FER+ paper's rule: votes of 1 are dropped as noise, and a label needs more than half of the
  remaining votes (including unknown / not-a-face votes); faces without one are left out.

``load_ferplus_votes`` reads the votes alone (``ferbench humans`` needs no images). The registered ``ferplus``
dataset joins ``fer2013new.csv`` by row to the original ``fer2013.csv`` (see :mod:`.fer2013`): given with
``pixels=``, or found as ``fer2013.csv`` in the data root or through ``$FERBENCH_FER2013_CSV``; a row whose
``Usage`` differs between the two files stops the load, because it means the files are not aligned. Without
``fer2013new.csv`` it reads the ``label.csv`` layout with the PNGs beside each file.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError
from .base import Dataset, file_stamp, register_dataset
from .fer2013 import load_fer2013_csv

FERPLUS_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
# The eight expression columns, as canonical labels, in the vote file's order.
VOTE_LABELS = ("neutral", "happy", "surprise", "sad", "anger", "disgust", "fear", "contempt")
VOTE_COLUMNS = tuple(f"votes_{x}" for x in VOTE_LABELS) + ("votes_unknown", "votes_nf")
SPLIT_FOLDERS = {"FER2013Train": "Training", "FER2013Valid": "PublicTest", "FER2013Test": "PrivateTest"}
LABEL_RULES = ("plurality", "majority")
_NAME = re.compile(r"^fer(\d+)\.png$")


def _votes(rec: list[str], where: str) -> list[int]:
    if len(rec) != 10:
        raise DatasetError(f"{where}: expected 10 vote counts, found {len(rec)}")
    try:
        v = [int(float(x)) for x in rec]
    except ValueError:
        raise DatasetError(f"{where}: vote counts must be whole numbers, found {rec}") from None
    if min(v) < 0:
        raise DatasetError(f"{where}: negative vote count in {rec}")
    return v


def _check_name(name: str, where: str) -> None:
    if not _NAME.match(name):
        raise DatasetError(f"{where}: image name '{name}' is not of the form ferNNNNNNN.png")


def _read_new_csv(path: Path) -> pd.DataFrame:
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        expected = ["Usage", "Image name", *FERPLUS_COLUMNS]
        if header is None or [h.strip() for h in header] != expected:
            raise DatasetError(f"{path}: header must be '{','.join(expected)}', found {header}")
        for i, rec in enumerate(reader):
            where = f"{path}:{i + 2}"
            if len(rec) != 12:
                raise DatasetError(f"{where}: expected 12 fields, found {len(rec)}")
            name = rec[1].strip()
            if rec[0].strip() not in SPLIT_FOLDERS.values():
                raise DatasetError(f"{where}: Usage '{rec[0]}' is not Training, PublicTest or PrivateTest")
            rows.append((i, rec[0].strip(), name or None, None, *_votes(rec[2:], where)))
    return pd.DataFrame(rows, columns=["row", "split", "image_name", "face_box", *VOTE_COLUMNS])


def _read_label_csvs(root: Path) -> pd.DataFrame:
    rows = []
    for folder, split in SPLIT_FOLDERS.items():
        path = root / "data" / folder / "label.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as f:
            for i, rec in enumerate(csv.reader(f)):
                where = f"{path}:{i + 1}"
                if len(rec) != 12:
                    raise DatasetError(f"{where}: expected 12 fields (name, box, 10 votes), found {len(rec)}")
                name = rec[0].strip()
                _check_name(name, where)
                rows.append((-1, split, f"{folder}/{name}", rec[1].strip(), *_votes(rec[2:], where)))
    df = pd.DataFrame(rows, columns=["row", "split", "image_name", "face_box", *VOTE_COLUMNS])
    if df["image_name"].duplicated().any():
        dup = df.loc[df["image_name"].duplicated(), "image_name"].iloc[0]
        raise DatasetError(f"{root / 'data'}: image '{dup}' is listed twice")
    return df


def load_ferplus_votes(root: str | os.PathLike[str]) -> pd.DataFrame:
    """The FER+ vote table: ``row, split, image_name, face_box, votes_*`` (one row per face in the vote file).

    ``row`` is the 0-based row of ``fer2013.csv`` (``-1`` in the ``label.csv`` layout, which has none);
    ``image_name`` is ``<folder>/<png>`` in the ``label.csv`` layout.

    ``root`` is the FER+ folder (``fer2013new.csv`` preferred, else ``data/FER2013*/label.csv``) or the
    ``fer2013new.csv`` file itself.
    """
    p = Path(root).expanduser()
    if not p.exists():
        raise DatasetError(f"data root '{p}' does not exist.")
    if p.is_file():
        return _read_new_csv(p)
    if (p / "fer2013new.csv").is_file():
        return _read_new_csv(p / "fer2013new.csv")
    if any((p / "data" / d / "label.csv").is_file() for d in SPLIT_FOLDERS):
        return _read_label_csvs(p)
    raise DatasetError(
        f"{p}: no FER+ vote file: expected fer2013new.csv or data/FER2013{{Train,Valid,Test}}/label.csv"
    )


def vote_matrix(df: pd.DataFrame, labels: tuple[str, ...] = VOTE_LABELS) -> np.ndarray:
    """(faces × labels) expression vote counts, from the ``votes_<label>`` columns."""
    return df[[f"votes_{x}" for x in labels]].to_numpy(dtype=np.int64)


def has_votes(df: pd.DataFrame) -> bool:
    return any(c.startswith("votes_") and c[6:] in VOTE_LABELS for c in df.columns)


def derive_labels(df: pd.DataFrame, rule: str = "plurality") -> pd.Series:
    """The label each face gets from its votes under ``rule`` (see module doc); ``None`` where it gets none."""
    if rule not in LABEL_RULES:
        raise DatasetError(f"unknown FER+ label rule '{rule}'; use one of {', '.join(LABEL_RULES)}")
    v = vote_matrix(df)
    if rule == "plurality":
        top = v.max(axis=1)
        unique_top = (v == top[:, None]).sum(axis=1) == 1
        ok = (top > 0) & unique_top
    else:
        allv = df[list(VOTE_COLUMNS)].to_numpy(dtype=np.int64)
        allv = np.where(allv <= 1, 0, allv)
        total = allv.sum(axis=1)
        top = allv.max(axis=1)
        # the majority class must be an expression label (not unknown / not a face)
        ok = (2 * top > total) & (allv[:, : len(VOTE_LABELS)].max(axis=1) == top)
        v = allv[:, : len(VOTE_LABELS)]
    names = np.array(VOTE_LABELS, dtype=object)[v.argmax(axis=1)]
    return pd.Series(np.where(ok, names, None), index=df.index, dtype=object)


def _pixel_path(root: Path, pixels: str | os.PathLike[str] | None) -> Path:
    candidates = []
    if pixels is not None:
        candidates.append(Path(pixels).expanduser())
    else:
        base = root if root.is_dir() else root.parent
        candidates.append(base / "fer2013.csv")
        env = os.environ.get("FERBENCH_FER2013_CSV")
        if env:
            candidates.append(Path(env).expanduser())
    for c in candidates:
        if c.is_file():
            return c
    raise DatasetError(
        f"{candidates[0]}: FER+ has no images of its own and needs the original fer2013.csv pixel file; put it "
        "in the data root or set FERBENCH_FER2013_CSV (`ferbench humans` works from the votes alone)"
    )


@register_dataset(
    "ferplus", "FER+ crowd votes (fer2013new.csv or data/FER2013*/label.csv) joined to fer2013.csv"
)
def load_ferplus(
    root: Path, pixels: str | os.PathLike[str] | None = None, label_rule: str = "plurality"
) -> Dataset:
    if root.is_dir() and not (root / "fer2013new.csv").is_file():
        return _load_label_folders(root, label_rule)
    votes = load_ferplus_votes(root)
    pixel_file = _pixel_path(root, pixels)
    base = load_fer2013_csv(pixel_file)
    s = base.samples.rename(columns={"label": "fer2013_label", "split": "fer2013_split"})
    merged = s.merge(votes, on="row", how="inner", validate="one_to_one")
    if merged.empty:
        raise DatasetError(f"{root}: no row of the pixel file has FER+ votes")
    bad = merged[merged["fer2013_split"] != merged["split"]]
    if len(bad):
        r = bad.iloc[0]
        raise DatasetError(
            f"{r['path']}: row {r['row']} is '{r['fer2013_split']}' in fer2013.csv but '{r['split']}' in the FER+ "
            "votes: the two files are not aligned row by row"
        )
    merged["label"] = derive_labels(merged, label_rule)
    merged["label_rule"] = label_rule
    kept = merged[merged["label"].notna()].drop(columns=["fer2013_split"]).reset_index(drop=True)
    if kept.empty:
        raise DatasetError(f"{root}: no face gets a label under the '{label_rule}' rule")
    n_dropped = len(merged) - len(kept)
    desc = f"FER+ votes joined to {pixel_file}; label rule '{label_rule}'"
    if n_dropped:
        desc += f"; {n_dropped} face(s) without a label under that rule left out"
    pixels_kept = {sid: base.pixels[sid] for sid in kept["sample_id"] if base.pixels and sid in base.pixels}
    return Dataset("ferplus", root, kept, desc, pixels_kept)


def _load_label_folders(root: Path, label_rule: str) -> Dataset:
    """The ``data/FER2013*/label.csv`` layout with the PNGs written beside each label file."""
    votes = load_ferplus_votes(root)
    votes["label"] = derive_labels(votes, label_rule)
    votes["label_rule"] = label_rule
    kept = votes[votes["label"].notna()].reset_index(drop=True)
    if kept.empty:
        raise DatasetError(f"{root}: no face gets a label under the '{label_rule}' rule")
    paths = [root / "data" / name for name in kept["image_name"]]
    missing = [p for p in paths if not p.is_file()]
    if len(missing) == len(paths):
        raise DatasetError(
            f"{root / 'data'}: none of the {len(paths)} images named in label.csv exist (e.g. {missing[0]}); "
            "generate them with FER+'s generate_training_data.py, or give fer2013new.csv and fer2013.csv"
        )
    kept["sample_id"] = kept["image_name"]
    kept["path"] = [str(p.resolve()) for p in paths]
    kept["stamp"] = [file_stamp(p) if p.is_file() else "missing" for p in paths]
    desc = f"FER+ label.csv folders with their PNGs; label rule '{label_rule}'"
    if missing:
        desc += f"; {len(missing)} listed image(s) missing (recorded per sample)"
    return Dataset("ferplus", root, kept, desc)
