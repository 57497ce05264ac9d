"""Any folder of labelled faces: ``<class>/<image>`` or ``<split>/<class>/<image>``.

Class folder names map to canonical labels through the synonym table (``angry``, ``Anger``, ``happiness``…)
or through a user label map (``label_map="smiling=happy,frowning=sad,other=exclude"`` or a .json/.csv file,
see :mod:`ferbench.datasets.labelmap`). Images in a folder that maps nowhere are excluded and reported as
``unknown_label``; images in a folder mapped to ``exclude`` are counted as ``excluded_by_map``. When every
top-level folder is a split name (train, training, val, valid, validation, test, testing, dev), the first level
is the split; otherwise the split is ``all``. Images may sit in sub-folders of a class folder.
"""

from __future__ import annotations

from pathlib import Path

from .base import Dataset, Exclusions, finish, register_dataset, stamp_or_missing
from .common import IMAGE_SUFFIXES, is_hidden, iter_files, rel
from .labelmap import LabelMapSpec, load_label_map

SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "test", "testing", "dev"}


@register_dataset("image-folder", "Any image folder: [<split>/]<class>/<image>, with an optional label map")
def load_image_folder(root: Path, label_map: LabelMapSpec = None) -> Dataset:
    lmap = load_label_map(label_map)
    top = sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden(p)) if root.is_dir() else []
    if top and all(p.name.lower() in SPLIT_NAMES for p in top):
        groups = [(p.name, sorted(c for c in p.iterdir() if c.is_dir() and not is_hidden(c))) for p in top]
    else:
        groups = [("all", top)]
    rows: list[dict[str, object]] = []
    ex = Exclusions()
    for split, class_dirs in groups:
        for cdir in class_dirs:
            label, reason = lmap.lookup(cdir.name)
            for f in iter_files(cdir, IMAGE_SUFFIXES, skipped=ex):
                where = rel(f, root)
                if label is None:
                    detail = (
                        f"class folder '{cdir.name}' maps to no canonical label; give a label map"
                        if reason == "unknown_label"
                        else f"'{cdir.name}' is excluded by the label map"
                    )
                    ex.add(where, reason, cdir.name, detail)
                    continue
                rows.append(
                    {
                        "sample_id": where,
                        "path": str(f),
                        "label": label,
                        "split": split,
                        "stamp": stamp_or_missing(f),
                        "orig_label": cdir.name,
                    }
                )
    return finish("image-folder", root, rows, f"image folder {root.name}", ex, "images in class folders")
