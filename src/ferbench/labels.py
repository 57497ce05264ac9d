"""The canonical expression-label taxonomy and the explicit maps into it.

Every dataset and every model names its classes in its own way and order (``AN``/``angry``/``Anger``/
``anger``; FER2013 puts ``angry`` at index 0, face-api.js puts ``neutral`` there). All of them are mapped
here, once, to eight canonical *expression labels*. These are labels for what a face shows, not claims about
what anyone feels.

Rules for mismatched label sets (documented in ``docs/labels.md``). The *evaluated label set* of a run is the
set of canonical labels the dataset uses (FER2013: seven, no contempt). A model's prediction is picked by one
of two *label rules* (:data:`LABEL_RULES`; implemented once, in :func:`ferbench.evaluate.restrict`):

* ``restricted`` (the default; every statistic that does not say otherwise uses it): the model's
  probabilities are restricted to the evaluated labels it supports and renormalised to sum to one; its
  prediction is the arg-max of that restricted vector. Probability mass on classes outside the evaluated set
  (e.g. an 8-class model's ``contempt`` on FER2013) is dropped, and the share dropped is recorded.
* ``open``: the model's own arg-max over all its classes, as the model would answer on its own; a label the
  dataset lacks counts as wrong. On a 3-label set of posed photos the same predictions score up to 20
  points lower this way, so every run reports both.

Under either rule a model that lacks an evaluated label (a 5-class model on a 7-class dataset) can never
predict it; its samples of that class count as errors, and the report flags the model as covering fewer
classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .errors import DatasetError

CANONICAL_LABELS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(CANONICAL_LABELS)}

RESTRICTED = "restricted"
OPEN = "open"
DEFAULT_LABEL_RULE = RESTRICTED
#: The label rules, each with the sentence ``metrics.json`` and the report print for it.
LABEL_RULES: dict[str, str] = {
    RESTRICTED: "Each model's probabilities are restricted to the dataset's evaluated labels that the model "
    "has and renormalised; the prediction is their arg-max. Mass on other classes is dropped (see "
    "dropped_mass); a model lacking an evaluated label never predicts it.",
    OPEN: "Each model's own arg-max over all its classes; a predicted label the dataset does not use counts "
    "as wrong.",
}


def check_label_rule(rule: str) -> str:
    if rule not in LABEL_RULES:
        raise DatasetError(f"unknown label rule '{rule}'; use one of {', '.join(LABEL_RULES)}")
    return rule


# Spellings seen in FER datasets and model class lists, lower-cased, mapped to canonical labels.
# Kept explicit (no fuzzy matching) so that a new spelling fails loudly instead of landing in the wrong class.
SYNONYMS: dict[str, str] = {
    "neutral": "neutral",
    "ne": "neutral",
    "neu": "neutral",
    "happy": "happy",
    "happiness": "happy",
    "ha": "happy",
    "hap": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "sa": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "su": "surprise",
    "sur": "surprise",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "af": "fear",
    "fe": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "di": "disgust",
    "dis": "disgust",
    "anger": "anger",
    "angry": "anger",
    "an": "anger",
    "ang": "anger",
    "contempt": "contempt",
    "co": "contempt",
}

# FER2013's integer codes (``emotion`` column of fer2013.csv), in the order the challenge defined.
FER2013_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def to_canonical(name: str) -> str:
    """Return the canonical label for a dataset or model class name, or raise if the name is unknown."""
    key = name.strip().lower()
    if key not in SYNONYMS:
        raise DatasetError(
            f"label '{name}' maps to no canonical expression label ({', '.join(CANONICAL_LABELS)}); "
            "give an explicit label map"
        )
    return SYNONYMS[key]


def class_map(classes: Sequence[str], overrides: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Map a model's or dataset's classes (in their own order) to canonical labels, position by position.

    ``overrides`` maps a native name to a canonical label when the synonym table should not decide.
    Duplicated targets are refused: two native classes landing on one canonical label would silently merge.
    """
    overrides = dict(overrides or {})
    mapped = tuple(overrides[c] if c in overrides else to_canonical(c) for c in classes)
    for label in mapped:
        if label not in LABEL_INDEX:
            raise DatasetError(f"label map target '{label}' is not a canonical label")
    if len(set(mapped)) != len(mapped):
        raise DatasetError(f"classes {list(classes)} map to duplicate canonical labels {list(mapped)}")
    return mapped


def ordered(labels: Iterable[str]) -> tuple[str, ...]:
    """Return ``labels`` in canonical order, so every table and matrix uses one row order."""
    present = set(labels)
    unknown = present - set(CANONICAL_LABELS)
    if unknown:
        raise DatasetError(f"not canonical labels: {sorted(unknown)}")
    return tuple(label for label in CANONICAL_LABELS if label in present)
