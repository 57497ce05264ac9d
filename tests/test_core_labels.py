"""The canonical taxonomy and the explicit maps into it."""

import pytest

from ferbench.errors import DatasetError
from ferbench.labels import CANONICAL_LABELS, FER2013_CLASSES, class_map, ordered, to_canonical
from ferbench.models import list_models


def test_canonical_order_is_fixed():
    assert CANONICAL_LABELS == ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")


def test_fer2013_integer_order_maps_position_by_position():
    assert class_map(FER2013_CLASSES) == ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Angry", "anger"),
        ("AF", "fear"),
        ("fearful", "fear"),
        ("surprised", "surprise"),
        ("Happiness", "happy"),
        ("sadness", "sad"),
        ("Contempt", "contempt"),
        (" NE ", "neutral"),
        ("disgusted", "disgust"),
    ],
)
def test_synonyms(name, expected):
    assert to_canonical(name) == expected


def test_unknown_label_is_refused_with_its_name():
    with pytest.raises(DatasetError, match="'joyful-ish' maps to no canonical"):
        to_canonical("joyful-ish")


def test_two_classes_on_one_label_are_refused():
    with pytest.raises(DatasetError, match="duplicate"):
        class_map(["angry", "anger"])


def test_overrides_win_over_synonyms():
    assert class_map(["x", "happy"], {"x": "neutral"}) == ("neutral", "happy")


def test_every_model_card_maps_each_class_to_a_distinct_canonical_label():
    for card in list_models():
        mapped = card.canonical_classes
        assert len(mapped) == len(card.classes) == len(set(mapped)), card.id
        assert set(mapped) <= set(CANONICAL_LABELS)


def test_ordered_follows_canonical_order():
    assert ordered(["contempt", "anger", "neutral"]) == ("neutral", "anger", "contempt")
