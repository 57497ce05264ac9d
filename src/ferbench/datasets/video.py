"""``video-folder``: a folder of clips, one subfolder per expression class, expanded into sampled frames.

Layout::

    ROOT/<class>/<clip>.{mp4,avi,mov,mkv,webm,m4v,mpg,mpeg}

Class folder names map to canonical labels like image folders (``happy``, ``angry``…). Each clip becomes one
sample per frame sampled at ``fps`` (default 2 per second; ``ferbench run --fps``), with sample id
``<class>/<clip>#f<k>`` and metadata ``clip_id``, ``frame_index`` (k), ``frame_time`` (seconds) and ``fps``.
The stamp is the clip file's size and mtime plus the rate, so changing ``--fps`` recomputes. A clip that
cannot be opened still yields one sample, which fails with ``corrupt_video`` and the reason, so the run goes
on and the failure is counted. Frames are decoded once per clip and kept for the few most recent clips.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError, SampleError
from ..faces.video import decode_sampled, n_samples, probe
from .base import Dataset, Exclusions, file_stamp, register_dataset
from .common import VIDEO_SUFFIXES, class_folder_label, iter_files

DEFAULT_FPS = 2.0
_FRAME_RE = re.compile(r"#f(\d+)")
_KEEP_CLIPS = 4


@dataclass
class VideoDataset(Dataset):
    """A dataset whose samples are frames of clips; ``read`` decodes the clip (once) and returns frame k."""

    fps: float = DEFAULT_FPS
    broken: dict[str, str] = field(default_factory=dict, repr=False)
    _frames: OrderedDict[str, list[np.ndarray] | SampleError] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _clip_locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)

    def _clip(self, path: str) -> list[np.ndarray]:
        with self._lock:
            clip_lock = self._clip_locks.setdefault(path, threading.Lock())
        with clip_lock:  # threads asking for frames of one clip wait for a single decode
            with self._lock:
                got = self._frames.get(path)
                if got is not None:
                    self._frames.move_to_end(path)
            if got is None:
                try:
                    got = decode_sampled(path, self.fps)
                except SampleError as exc:
                    got = exc
                with self._lock:
                    self._frames[path] = got
                    while len(self._frames) > _KEEP_CLIPS:
                        self._frames.popitem(last=False)
        if isinstance(got, SampleError):
            raise SampleError(got.reason, got.detail)
        return got

    def read(self, sample_id: str, path: str) -> tuple[np.ndarray, bytes]:
        if path in self.broken:
            raise SampleError("corrupt_video", self.broken[path])
        m = _FRAME_RE.search(sample_id)
        if m is None:
            raise SampleError("bad_sample_id", f"{sample_id}: not a video frame id (<clip>#f<k>)")
        k = int(m.group(1))
        frames = self._clip(path)
        if k >= len(frames):
            raise SampleError(
                "frame_missing", f"{path}: sampled frame {k} at {k / self.fps:.2f}s could not be decoded"
            )
        frame = frames[k]
        return frame, frame.tobytes()

    def select(self, split: str | None = None, limit: int | None = None, seed: int = 0) -> Dataset:
        base = super().select(split, limit, seed)
        return replace(self, samples=base.samples)


@register_dataset(
    "video-folder", "Folder of video clips, one subfolder per class (<class>/<clip>.mp4), sampled at --fps"
)
def load_video_folder(root: Path, fps: float = DEFAULT_FPS) -> VideoDataset:
    if fps <= 0:
        raise DatasetError(f"--fps must be positive, got {fps}")
    if not root.is_dir():
        raise DatasetError(f"{root}: expected a folder with one subfolder of clips per class")
    rows: list[dict[str, object]] = []
    broken: dict[str, str] = {}
    ex = Exclusions()
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = class_folder_label(class_dir)
        for f in iter_files(class_dir, VIDEO_SUFFIXES, recursive=False, skipped=ex):
            clip_id = f"{class_dir.name}/{f.name}"
            path = str(f.resolve())
            try:
                n = n_samples(probe(f), fps)
            except SampleError as exc:
                broken[path] = str(exc.detail)
                n = 1  # one sample stands for the clip, so its failure is counted
            stamp = f"{file_stamp(f)}@{fps:g}fps"
            for k in range(n):
                rows.append(
                    {
                        "sample_id": f"{clip_id}#f{k:05d}",
                        "path": path,
                        "label": label,
                        "split": "all",
                        "orig_label": class_dir.name,
                        "clip_id": clip_id,
                        "frame_index": k,
                        "frame_time": k / fps,
                        "fps": fps,
                        "stamp": stamp,
                    }
                )
    if not rows:
        raise DatasetError(
            f"{root}: no video clips ({', '.join(sorted(VIDEO_SUFFIXES))}) in class subfolders"
        )
    return VideoDataset(
        "video-folder",
        root,
        pd.DataFrame(rows),
        "Video clips by class folder",
        excluded=ex.frame(),
        fps=fps,
        broken=broken,
    )
