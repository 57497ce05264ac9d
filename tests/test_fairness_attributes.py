"""Optional estimated attributes: face-api.js AgeGenderNet re-implemented in NumPy.

The network test compares with outputs of face-api.js itself (tfjs CPU backend in Node; see
``tests/data/faceapi_age_gender_reference.*``) on real FER2013 faces, square and non-square. It needs the
weights in a ``faceapi-age-gender/`` folder of the model-store search path (``ferbench models pull
faceapi-age-gender`` fetches them from the npm package; the README's first command does) and is skipped,
saying so, where they are absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from _fairness_fixtures import MODELS, image_dataset

from ferbench import api
from ferbench.attributes import age_band
from ferbench.attributes.agegender import FOLDER, MANIFEST, WEIGHTS, AgeGenderNet, load_weights
from ferbench.errors import FerbenchError, ModelError

REFERENCE = Path(__file__).parent / "data" / "faceapi_age_gender_reference.json"


@pytest.fixture(scope="module")
def weights(model_store) -> Path:
    from ferbench.models.store import store_paths

    for folder in (p / FOLDER for p in store_paths(model_store)):
        if (folder / WEIGHTS).is_file():
            return folder
    pytest.skip(f"no {FOLDER}/{WEIGHTS} in the model store: run `ferbench models pull {FOLDER}`")


def test_matches_face_api_js_on_real_faces(weights, fer2013_root):
    ref = json.loads(REFERENCE.read_text())["samples"]
    crops = []
    for s in ref:
        img = cv2.imread(str(fer2013_root / "test" / s["file"]), cv2.IMREAD_COLOR)
        crops.append(img[:, 6:42] if s["crop"] else img)
    age, prob = AgeGenderNet(weights).predict(crops)
    np.testing.assert_allclose(age, [s["age"] for s in ref], atol=1e-3)
    np.testing.assert_allclose(prob[:, 1], [s["p_female"] for s in ref], atol=1e-4)


def test_run_adds_estimated_groups_labelled_as_estimates(weights, tmp_path, fer2013_root, model_store):
    ds = image_dataset(fer2013_root, 40, seed=4)
    r = api.run(
        ds, out=tmp_path / "r", models=MODELS, model_store=model_store, groups="est_gender,est_age_band",
        estimate_attributes=True,
    )  # fmt: skip
    fair = r.metrics["fairness"]
    assert "AgeGenderNet" in fair["estimator"]
    assert fair["groupings"]["est_gender"]["estimated"] is True
    assert {g["group"] for g in fair["groupings"]["est_gender"]["groups"]} <= {"male", "female"}
    table = r.predictions_path
    import pandas as pd

    t = pd.read_parquet(table).drop_duplicates("sample_id")
    assert t["est_age_band"].map(type).eq(str).all()
    assert (tmp_path / "r" / "attributes.parquet").exists()
    html = r.report_path.read_text()
    assert "Estimated groups." in html and "guesses" in html


def test_missing_or_tampered_weights_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="npm @vladmandic/face-api@1.7.15"):
        load_weights(tmp_path)
    (tmp_path / WEIGHTS).write_bytes(b"not the weights")
    (tmp_path / MANIFEST).write_text("[]")
    with pytest.raises(ModelError, match="has sha256 .* expected"):
        load_weights(tmp_path)


def test_estimated_group_without_flag_is_a_clear_error(tmp_path, fer2013_root, model_store):
    ds = image_dataset(fer2013_root, 5)
    with pytest.raises(FerbenchError, match=r"no column 'est_gender' \(add --estimate-attributes"):
        api.run(ds, out=tmp_path / "r", models=MODELS, model_store=model_store, groups="est_gender")


def test_age_bands():
    assert [age_band(a) for a in (1.7, 19.99, 20, 39.5, 40, 59.9, 60, 95)] == [
        "0-19", "0-19", "20-39", "20-39", "40-59", "40-59", "60+", "60+",
    ]  # fmt: skip
    assert age_band(float("nan")) is None
