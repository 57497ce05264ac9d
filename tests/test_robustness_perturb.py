"""Perturbations on real FER2013 faces: graded severities, determinism, landmarks, spec parsing and errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _fairness_fixtures import pick_images

from ferbench.errors import FerbenchError
from ferbench.perturb import PERTURBATIONS, SUITES, PerturbSpec, apply, parse_perturb, sample_seed
from ferbench.perturb.engine import perturb_transform, row_landmarks, variant_name


@pytest.fixture(scope="module")
def faces(fer2013_root) -> list[np.ndarray]:
    return [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in pick_images(fer2013_root, 40, seed=7)]


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("name", [n for n, p in PERTURBATIONS.items() if len(p.severities) > 1])
def test_severity_is_monotone_in_pixel_change(faces, name):
    """Mean absolute pixel difference from the clean face grows strictly with severity (40 real faces)."""
    means = []
    for sev in PERTURBATIONS[name].severities:
        spec = PerturbSpec(name, sev)
        means.append(np.mean([_mad(apply(im, spec, sample_id=f"s{i}"), im) for i, im in enumerate(faces)]))
    assert means[0] > 0.5, f"{name} severity 1 barely changes the image: {means}"
    assert all(b > a for a, b in zip(means, means[1:], strict=False)), f"{name}: {np.round(means, 2)}"


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_shape_dtype_and_determinism(faces, name):
    big = cv2.resize(faces[0], (150, 170))  # a larger, non-square crop
    for im in (faces[1], big):
        spec = PerturbSpec(name, PERTURBATIONS[name].severities[-1])
        a = apply(im, spec, sample_id="x/1.jpg", seed=3)
        b = apply(im.copy(), spec, sample_id="x/1.jpg", seed=3)
        assert a.shape == im.shape and a.dtype == np.uint8
        assert np.array_equal(a, b)
        assert not np.array_equal(a, im)


def test_seed_derives_from_sample_perturbation_and_severity(faces):
    im = faces[2]
    spec = PerturbSpec("noise", 3)
    a = apply(im, spec, sample_id="a", seed=0)
    assert not np.array_equal(a, apply(im, spec, sample_id="b", seed=0))
    assert not np.array_equal(a, apply(im, spec, sample_id="a", seed=1))
    seeds = {sample_seed(0, "a", "noise", 3), sample_seed(0, "a", "noise", 4), sample_seed(0, "a", "blur", 3)}
    assert len(seeds) == 3
    # order and batching do not matter: a fresh call reproduces the first
    for _ in range(2):
        apply(im, PerturbSpec("rotate", 2), sample_id="zz")
    assert np.array_equal(a, apply(im, spec, sample_id="a", seed=0))


def test_flip_is_a_mirror_and_involution(faces):
    im = faces[3]
    f = apply(im, "flip", sample_id="a")
    assert np.array_equal(f, im[:, ::-1]) and np.array_equal(apply(f, "flip", sample_id="b"), im)


def test_occluders_follow_landmarks(faces):
    """With landmarks high in the crop, the mask covers the upper half; with defaults, the lower part."""
    im = cv2.resize(faces[4], (96, 96))
    high = np.array([[30, 10], [66, 10], [48, 20], [36, 34], [60, 34]], float)
    changed_high = np.any(apply(im, "mask:3", sample_id="a", landmarks=high) != im, axis=2)
    changed_default = np.any(apply(im, "mask:3", sample_id="a") != im, axis=2)
    assert changed_high[:48].mean() > 0.3 and changed_high[70:].mean() < 0.01
    assert changed_default[:48].mean() < 0.01 and changed_default[70:].mean() > 0.3
    glasses = np.any(apply(im, "sunglasses:3", sample_id="a", landmarks=high) != im, axis=2)
    assert glasses[5:16, 25:72].mean() > 0.5 and glasses[40:].mean() == 0


def test_engine_transform_composes_and_reads_crop_landmarks(faces):
    import pandas as pd

    im = cv2.resize(faces[5], (96, 96))
    cols = {f"crop_lm{i}_{a}": v for i, p in enumerate([[30, 10], [66, 10], [48, 20], [36, 34], [60, 34]])
            for a, v in zip("xy", p, strict=True)}  # fmt: skip
    row = pd.Series({"sample_id": "q", **cols})
    assert row_landmarks(row).shape == (5, 2)
    assert row_landmarks(pd.Series({"sample_id": "q"})) is None
    crop = lambda img, r: img[8:88, 8:88]  # noqa: E731 - a stand-in face crop
    t = perturb_transform(PerturbSpec("blur", 2), seed=0, base=crop)
    assert np.array_equal(t(im, row), apply(im[8:88, 8:88], "blur:2", sample_id="q"))
    assert variant_name("clean", PerturbSpec("blur", 2)) == "clean+blur:2"
    assert (
        variant_name("face:yunet:largest", PerturbSpec("mask", 5), seed=4)
        == "face:yunet:largest+mask:5:seed4"
    )


def test_parse_specs_and_suites():
    assert [s.key for s in parse_perturb("mask,blur:3,noise:1-2")] == ["mask:1", "mask:2", "mask:3", "mask:4",
                                                                      "mask:5", "blur:3", "noise:1", "noise:2"]  # fmt: skip
    std = parse_perturb("standard")
    assert len(std) == sum(len(p.severities) for p in PERTURBATIONS.values())
    assert {s.name for s in parse_perturb("occlusion")} == set(SUITES["occlusion"]) == {"mask", "sunglasses"}
    assert parse_perturb("flip, flip ;BLUR:2") == [PerturbSpec("blur", 2), PerturbSpec("flip", 1)]
    assert parse_perturb(None) == [] and parse_perturb("") == []


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("scarf", "unknown perturbation 'scarf'"),
        ("blur:6", "severities 1-5, got 6"),
        ("blur:0", "severities 1-5, got 0"),
        ("flip:2", "severities 1, got 2"),
        ("noise:x", "severity must be a number or a range"),
        ("noise:4-2", "severity must be a number or a range"),
        ("standard:2", "suite 'standard' takes no severity"),
    ],
)
def test_bad_specs_are_clear_errors(spec, needle):
    with pytest.raises(FerbenchError) as e:
        parse_perturb(spec)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unknown_name_lists_the_choices():
    with pytest.raises(FerbenchError, match="perturbations: mask, sunglasses, blur.*suites: standard"):
        parse_perturb("mask,fog:2")
