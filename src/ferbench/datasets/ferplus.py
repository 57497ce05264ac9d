"""FER+ : ten crowd annotators' votes for every FER2013 face, kept as a vote matrix.

FER+ (Barsoum et al. 2016) has no images of its own: it relabels the faces of the original FER2013 pixel file.
Two official label layouts, both read here:

* ``fer2013new.csv``: header ``Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,
  contempt,unknown,NF``; one row per row of ``fer2013.csv``, in the same order, so the join to the pixel file
  is by *row position* (as FER+'s own ``generate_training_data.py`` does). ``Image name`` is the PNG name that
  script writes, or empty where the face was judged not a face. The names are *not* row numbers: in the real
  file they drift from the row index and four names occur twice, so they are never used to join.
* FER+'s own folders ``FER2013{Train,Valid,Test}/`` (directly in the data root, as ``generate_training_data.py``
  writes them, or under ``data/`` as in FER+'s repository), each with its PNGs and a ``label.csv`` (no header):
  ``image name, "(x, y, w, h)" face box``, then the ten vote counts; Train/Valid/Test are FER2013's
  Training/PublicTest/PrivateTest, selectable as ``--split train|valid|test`` too (``split_group``). Votes
  are joined to PNGs by file name within the folder, never by the number in the name. In the real release
  about 4.5% of faces have slightly different votes here than in ``fer2013new.csv``; when both exist,
  ``fer2013new.csv`` is used. A folder's ``fer2013_label.csv`` (columns ``image, fer2013_label``), when
  present, adds FER2013's own label of each face as ``fer2013_label``.

  Bad input never stops the load: a row with the wrong number of fields (``malformed_line``), negative or
  non-numeric counts (``bad_votes``), a malformed name (``bad_name``), a name listed twice (``duplicate_name``,
  every such row), a name with no PNG (``missing_image``) and a PNG with no row (``unlisted_image``) are
  excluded, each with its file and line, counted in a warning and listed by ``ferbench datasets check``.

Votes are kept as columns ``votes_<canonical label>`` for the eight expression labels plus ``votes_unknown``
and ``votes_nf`` ("not a face"). The dataset ``label`` is derived from the votes by a stated rule:

* ``plurality`` (default): the expression label with the most votes; a tie for first place, or no expression
  votes at all, leaves the face without a label (left out of the sample table, counted in the loader report);
* ``majority``: the FER+ paper's rule: votes of 1 are dropped as noise, and a label needs more than half of the
  remaining votes (including unknown / not-a-face votes); faces without one are left out.

A voted face left without a label is not a sample (no accuracy is computed on it) but is kept in
``Dataset.vote_only``: models still score it, so people-vs-models statistics cover every voted face.

``load_ferplus_votes`` reads the votes alone (``ferbench humans`` needs no images). The registered ``ferplus``
dataset joins ``fer2013new.csv`` by row to the original ``fer2013.csv`` (see :mod:`.fer2013`): given with
``pixels=``, or found as ``fer2013.csv`` in the data root or through ``$FERBENCH_FER2013_CSV``; a row whose
``Usage`` differs between the two files stops the load, because it means the files are not aligned. Without
``fer2013new.csv`` it reads FER+'s folders with the PNGs beside each ``label.csv``.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ..labels import to_canonical
from .base import Dataset, Exclusions, file_stamp, log, register_dataset
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
# ``--split train|valid|test`` selects FER2013's Training|PublicTest|PrivateTest (``split_group``).
SPLIT_GROUPS = {"Training": "train", "PublicTest": "valid", "PrivateTest": "test"}
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


def label_folders(root: Path) -> list[Path]:
    """The ``FER2013Train|Valid|Test`` folders holding a ``label.csv``: directly in ``root`` (as FER+'s
    generation script writes them) or in ``root/data`` (as FER+'s repository keeps them)."""
    for base in (root, root / "data"):
        found = [base / f for f in SPLIT_FOLDERS if (base / f / "label.csv").is_file()]
        if found:
            return found
    return []


def _parse_votes(rec: list[str]) -> tuple[list[int], str | None]:
    """Vote counts of one row, or the reason they are unusable (the caller decides to raise or exclude)."""
    try:
        v = [int(x) for x in (r.strip() for r in rec)]
    except ValueError:
        return [], f"vote counts must be whole numbers, found {[r.strip() for r in rec]}"
    if min(v) < 0:
        return [], f"vote counts must not be negative, found {v}"
    return v, None


def _read_label_csv(path: Path, excluded: Exclusions) -> pd.DataFrame:
    """One FER+ ``label.csv``: rows that cannot be read are excluded with their line and reason, never raised.

    A name listed twice (FER+'s own ``fer2013new.csv`` gives one test name to two rows with different votes)
    cannot be joined to its PNG unambiguously, so every row with that name is excluded.
    """
    folder = path.parent.name
    rows = []
    with open(path, newline="") as f:
        for i, rec in enumerate(csv.reader(f)):
            where = f"{path}:{i + 1}"
            if not any(x.strip() for x in rec):
                continue
            if len(rec) != 12:
                excluded.add(
                    where, "malformed_line", rec[0].strip(),
                    f"expected 12 fields (image name, face box, 10 vote counts), found {len(rec)}",
                )  # fmt: skip
                continue
            name = rec[0].strip()
            if not _NAME.match(name):
                excluded.add(
                    where, "bad_name", name, f"image name '{name}' is not of the form ferNNNNNNN.png"
                )
                continue
            v, why = _parse_votes(rec[2:])
            if why:
                excluded.add(where, "bad_votes", name, why)
                continue
            rows.append((where, -1, SPLIT_FOLDERS[folder], f"{folder}/{name}", rec[1].strip(), *v))
    df = pd.DataFrame(rows, columns=["where", "row", "split", "image_name", "face_box", *VOTE_COLUMNS])
    dup = df["image_name"].duplicated(keep=False)
    for name, grp in df[dup].groupby("image_name", sort=False):
        lines = ", ".join(w.rsplit(":", 1)[1] for w in grp["where"])
        png = str(name).split("/", 1)[1]
        for where in grp["where"]:
            excluded.add(
                where, "duplicate_name", png,
                f"'{png}' is listed {len(grp)} times in {path} (lines {lines}); which votes belong to the "
                "PNG is ambiguous",
            )  # fmt: skip
    return df[~dup].reset_index(drop=True)


def _read_label_csvs(folders: list[Path], excluded: Exclusions) -> pd.DataFrame:
    return pd.concat([_read_label_csv(f / "label.csv", excluded) for f in folders], ignore_index=True)


def _warn(excluded: Exclusions, what: str) -> None:
    ex = excluded.frame()
    if len(ex):
        first = ex.iloc[0]
        counts = ", ".join(f"{k}: {v}" for k, v in ex["reason"].value_counts().sort_index().items())
        log.warning("%s: %d entries excluded (%s); e.g. %s (%s)", what, len(ex), counts, first["where"],
                    first["detail"])  # fmt: skip


def load_ferplus_votes(root: str | os.PathLike[str]) -> pd.DataFrame:
    """The FER+ vote table: ``row, split, image_name, face_box, votes_*`` (one row per face in the vote file).

    ``row`` is the 0-based row of ``fer2013.csv`` (``-1`` in the ``label.csv`` layout, which has none);
    ``image_name`` is ``<folder>/<png>`` in the ``label.csv`` layout.

    ``root`` is the FER+ folder (``fer2013new.csv`` preferred, else ``[data/]FER2013*/label.csv``) or the
    ``fer2013new.csv`` file itself. Unreadable ``label.csv`` rows are left out with a warning (the dataset
    loader records them per row).
    """
    p = Path(root).expanduser()
    if not p.exists():
        raise DatasetError(f"data root '{p}' does not exist.")
    if p.is_file():
        return _read_new_csv(p)
    if (p / "fer2013new.csv").is_file():
        return _read_new_csv(p / "fer2013new.csv")
    folders = label_folders(p)
    if folders:
        excluded = Exclusions()
        votes = _read_label_csvs(folders, excluded)
        _warn(excluded, f"FER+ votes in {p}")
        return votes.drop(columns=["where"])
    raise DatasetError(
        f"{p}: no FER+ vote file: expected fer2013new.csv or [data/]FER2013{{Train,Valid,Test}}/label.csv"
    )


def vote_matrix(df: pd.DataFrame, labels: tuple[str, ...] = VOTE_LABELS) -> np.ndarray:
    """(faces × labels) expression vote counts, from the ``votes_<label>`` columns."""
    return df[[f"votes_{x}" for x in labels]].to_numpy(dtype=np.int64)


def has_votes(df: pd.DataFrame) -> bool:
    return any(c.startswith("votes_") and c[6:] in VOTE_LABELS for c in df.columns)


def majority_index(counts: np.ndarray, n_expression: int) -> np.ndarray:
    """FER+'s majority rule on a count table whose first ``n_expression`` columns are expression labels and
    whose further columns are non-expression votes (unknown, not a face): the expression column index, or
    ``-1`` where the face gets no majority label.

    Votes of 1 are dropped as noise; the top class needs more than half of the remaining votes (non-expression
    votes included) and must be an expression label.
    """
    allv = np.asarray(counts, dtype=np.int64)
    allv = np.where(allv <= 1, 0, allv)
    total = allv.sum(axis=1)
    top = allv.max(axis=1)
    expr = allv[:, :n_expression]
    ok = (2 * top > total) & (expr.max(axis=1) == top) & (top > 0)
    return np.where(ok, expr.argmax(axis=1), -1)


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
        idx = majority_index(df[list(VOTE_COLUMNS)].to_numpy(dtype=np.int64), len(VOTE_LABELS))
        ok = idx >= 0
        v = np.eye(len(VOTE_LABELS), dtype=np.int64)[np.clip(idx, 0, None)]
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
    "ferplus",
    "FER+ crowd votes: FER+'s own folders ([data/]FER2013Train|Valid|Test/ with PNGs and label.csv), or "
    "fer2013new.csv joined to fer2013.csv",
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
    merged = merged.drop(columns=["fer2013_split"])
    merged["split_group"] = merged["split"].map(SPLIT_GROUPS)
    kept, vote_only = _apply_rule(merged, label_rule, root)
    desc = f"FER+ votes joined to {pixel_file}; label rule '{label_rule}'"
    if len(vote_only):
        desc += (
            f"; {len(vote_only)} voted face(s) without a label under that rule kept for people-vs-models only"
        )
    ids = set(kept["sample_id"]) | set(vote_only["sample_id"])
    pixels_kept = {sid: img for sid, img in (base.pixels or {}).items() if sid in ids}
    return Dataset("ferplus", root, kept, desc, pixels_kept, vote_only=vote_only)


def _apply_rule(votes: pd.DataFrame, label_rule: str, root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(samples, vote-only faces): faces with a label under ``label_rule``, and voted faces without one.

    Faces with no expression vote at all (every vote unknown / not a face) are in neither.
    """
    votes = votes.copy()
    votes["label"] = derive_labels(votes, label_rule)
    votes["label_rule"] = label_rule
    has = votes["label"].notna()
    voted = vote_matrix(votes).sum(axis=1) > 0
    kept = votes[has].reset_index(drop=True)
    if kept.empty:
        raise DatasetError(f"{root}: no face gets a label under the '{label_rule}' rule")
    return kept, votes[~has & voted].reset_index(drop=True)


def _read_fer2013_labels(folder: Path, excluded: Exclusions) -> dict[str, str | None]:
    """FER2013's own label per PNG name from a folder's ``fer2013_label.csv`` (canonical names; None: unknown)."""
    path = folder / "fer2013_label.csv"
    out: dict[str, str | None] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"image", "fer2013_label"} <= set(reader.fieldnames):
            raise DatasetError(f"{path}: needs the columns image, fer2013_label; found {reader.fieldnames}")
        for i, rec in enumerate(reader):
            name = (rec["image"] or "").strip()
            lab = (rec["fer2013_label"] or "").strip()
            try:
                out[name] = to_canonical(lab) if lab else None
            except DatasetError:
                excluded.add(f"{path}:{i + 2}", "unknown_label", lab, f"'{lab}' is not an expression label")
    return out


def _load_label_folders(root: Path, label_rule: str) -> Dataset:
    """FER+'s own layout: ``[data/]FER2013*/`` folders, each with its PNGs and ``label.csv``.

    Votes are joined to images by file name within each folder (never by the number in the name). Bad rows,
    names without a PNG and PNGs without a row are excluded, each with its location and reason.
    """
    folders = label_folders(root)
    if not folders:
        raise DatasetError(
            f"{root}: no FER+ folders: expected [data/]FER2013{{Train,Valid,Test}}/label.csv beside the PNGs, "
            "or fer2013new.csv with fer2013.csv"
        )
    excluded = Exclusions()
    votes = _read_label_csvs(folders, excluded)
    base = folders[0].parent
    paths = [base / name for name in votes["image_name"]]
    present = np.array([p.is_file() for p in paths], dtype=bool)
    if len(paths) and not present.any():
        raise DatasetError(
            f"{base}: none of the {len(paths)} images named in label.csv exist (e.g. {paths[0]}); "
            "generate them with FER+'s generate_training_data.py, or give fer2013new.csv and fer2013.csv"
        )
    for where, p in zip(votes.loc[~present, "where"], np.array(paths, dtype=object)[~present], strict=True):
        excluded.add(where, "missing_image", p.name, f"{p} does not exist")
    # a PNG whose row was excluded (bad votes, listed twice...) has a row: it is not "unlisted" as well
    listed = set(votes["image_name"]) | {
        f"{Path(r['where'].rsplit(':', 1)[0]).parent.name}/{r['orig_label']}" for r in excluded.rows
    }
    for folder in folders:
        for png in sorted(folder.glob("*.png")):
            if f"{folder.name}/{png.name}" not in listed:
                excluded.add(str(png), "unlisted_image", png.name, f"no row in {folder / 'label.csv'}")
    votes = votes[present].reset_index(drop=True)
    votes["path"] = [str((base / n).resolve()) for n in votes["image_name"]]
    votes["sample_id"] = votes["image_name"]
    votes["stamp"] = [file_stamp(Path(x)) for x in votes["path"]]
    votes["split_group"] = votes["split"].map(SPLIT_GROUPS)
    fer_labels = {
        f.name: _read_fer2013_labels(f, excluded) for f in folders if (f / "fer2013_label.csv").is_file()
    }
    if fer_labels:
        folder_of = votes["image_name"].str.split("/").str[0]
        png = votes["image_name"].str.split("/").str[1]
        votes["fer2013_label"] = [fer_labels.get(fo, {}).get(n) for fo, n in zip(folder_of, png, strict=True)]
    votes = votes.drop(columns=["where"])
    kept, vote_only = _apply_rule(votes, label_rule, root)
    ex = excluded.frame()
    desc = f"FER+ folders ({', '.join(f.name for f in folders)}) with their PNGs; label rule '{label_rule}'"
    if len(vote_only):
        desc += (
            f"; {len(vote_only)} voted face(s) without a label under that rule kept for people-vs-models only"
        )
    n_missing = int((ex["reason"] == "missing_image").sum())
    if n_missing:
        desc += f"; {n_missing} listed image(s) missing (excluded)"
    if len(ex):
        _warn(excluded, f"dataset 'ferplus' at {root}")
    return Dataset("ferplus", root, kept, desc, excluded=ex, vote_only=vote_only)
