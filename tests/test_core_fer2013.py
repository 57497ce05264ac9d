"""FER2013 loaders on the real image folders and on a pixel CSV in the original challenge format."""

import csv

import numpy as np
import pytest
from PIL import Image

from ferbench.datasets import load_dataset
from ferbench.errors import DatasetError, SampleError
from ferbench.labels import FER2013_CLASSES


def test_image_folder_layout_real_counts_and_official_split(fer2013_root):
    ds = load_dataset("fer2013-images", fer2013_root)
    test = ds.select("test")
    # SOURCE.txt: 7,024 test images, 3,435 PublicTest + 3,589 PrivateTest; 28,709 train.
    assert len(test) == 7024
    assert (test.samples["split"] == "PublicTest").sum() == 3435
    assert (test.samples["split"] == "PrivateTest").sum() == 3589
    assert len(ds.select("Training")) == 28709
    counts = test.samples["orig_label"].value_counts().to_dict()
    assert counts == {
        "happy": 1774,
        "sad": 1247,
        "neutral": 1233,
        "fear": 1024,
        "angry": 958,
        "surprise": 677,
        "disgust": 111,
    }
    assert ds.labels == ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")
    assert set(test.samples.loc[test.samples.orig_label == "angry", "label"]) == {"anger"}


def test_limit_is_a_seeded_subset_that_keeps_the_label_set(fer2013_root):
    ds = load_dataset("fer2013-images", fer2013_root)
    a = ds.select("PrivateTest", 50, seed=1)
    b = ds.select("PrivateTest", 50, seed=1)
    assert list(a.samples.sample_id) == list(b.samples.sample_id)
    assert a.labels == ds.labels
    assert a.samples["label"].nunique() > 1


def test_read_returns_bgr_of_the_real_file(fer2013_root):
    ds = load_dataset("fer2013-images", fer2013_root).select("PublicTest", 3)
    row = ds.samples.iloc[0]
    img, raw = ds.read(row.sample_id, row.path)
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    grey = np.asarray(Image.open(row.path).convert("L"))
    assert np.abs(img[:, :, 0].astype(int) - grey).max() <= 2  # two JPEG decoders, same image


def _write_fer_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerows(rows)


def test_pixel_csv_layout(tmp_path, fer2013_root):
    # Build a small fer2013.csv in the original format from real FER2013 faces.
    files = sorted((fer2013_root / "test" / "happy").glob("PrivateTest_*.jpg"))[:2]
    files += sorted((fer2013_root / "test" / "angry").glob("PublicTest_*.jpg"))[:1]
    codes = [3, 3, 0]
    usage = ["PrivateTest", "PrivateTest", "PublicTest"]
    pix = [np.asarray(Image.open(f).convert("L")) for f in files]
    _write_fer_csv(
        tmp_path / "fer2013.csv",
        [(c, " ".join(map(str, p.ravel())), u) for c, p, u in zip(codes, pix, usage, strict=True)],
    )
    ds = load_dataset("fer2013-csv", tmp_path)
    assert list(ds.samples["label"]) == ["happy", "happy", "anger"]
    assert list(ds.samples["split"]) == usage
    assert list(ds.samples["row"]) == [0, 1, 2]
    img, _ = ds.read(ds.samples.sample_id[2], ds.samples.path[2])
    assert np.array_equal(img[:, :, 1], pix[2])


def test_pixel_csv_bad_rows(tmp_path):
    _write_fer_csv(tmp_path / "fer2013.csv", [(7, "1 2 3", "Training")])
    with pytest.raises(DatasetError, match=r"fer2013.csv:2: emotion code '7'"):
        load_dataset("fer2013-csv", tmp_path)
    _write_fer_csv(tmp_path / "fer2013.csv", [(1, "1 2 3", "Training")])
    ds = load_dataset("fer2013-csv", tmp_path)
    with pytest.raises(SampleError, match="malformed"):
        ds.read(ds.samples.sample_id[0], ds.samples.path[0])
    (tmp_path / "fer2013.csv").write_text("a,b,c\n")
    with pytest.raises(DatasetError, match="header must be"):
        load_dataset("fer2013-csv", tmp_path)


def test_unknown_class_folder_names_the_folder(tmp_path, fer2013_root):
    d = tmp_path / "test" / "bored"
    d.mkdir(parents=True)
    src = next((fer2013_root / "test" / "happy").glob("*.jpg"))
    (d / "PublicTest_1.jpg").write_bytes(src.read_bytes())
    with pytest.raises(DatasetError, match=r"test/bored: class folder 'bored' maps to no canonical"):
        load_dataset("fer2013-images", tmp_path)


def test_missing_root_and_unknown_dataset(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("fer2013-images", tmp_path / "nope")
    with pytest.raises(DatasetError, match="unknown dataset 'fer2014'"):
        load_dataset("fer2014", tmp_path)
    with pytest.raises(DatasetError, match="expected a 'train/' or 'test/'"):
        load_dataset("fer2013-images", tmp_path)


def test_fer2013_code_table_is_the_challenge_order():
    assert FER2013_CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
