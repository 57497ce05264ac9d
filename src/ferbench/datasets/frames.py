"""Video decoding with PyAV: probe a clip, and decode the frames sampled at a fixed rate.

Sampling rule: with rate ``fps``, sample ``k`` is taken at time ``k / fps`` (k = 0, 1, … while the time lies
inside the clip), and is the first decoded frame whose presentation time is at or after it (a frame within
half a source frame before it also counts, so 25 fps sampled at 25 fps takes every frame). Decoding failures
raise :class:`~ferbench.errors.SampleError` (``corrupt_video``) naming the file, so one bad clip becomes
recorded per-sample failures while the run goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SampleError


@dataclass(frozen=True)
class ClipInfo:
    duration: float  # seconds
    rate: float  # the stream's average frame rate (0 when unknown)
    n_frames: int  # frames in the stream (counted when the container does not say)


def _open(path: str | Path):  # type: ignore[no-untyped-def]
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise SampleError("corrupt_video", f"{path}: cannot open as a video ({exc})") from None
    if not container.streams.video:
        container.close()
        raise SampleError("corrupt_video", f"{path}: the file holds no video stream")
    return container


def probe(path: str | Path) -> ClipInfo:
    """Duration, frame rate and frame count of a clip; decodes it when the container metadata is missing."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
        if not duration and container.duration:
            duration = container.duration / 1e6
        n = int(stream.frames or 0)
        if not (duration and n):
            times = [f.time for f in container.decode(stream)]
            n = len(times)
            if n == 0:
                raise SampleError("corrupt_video", f"{path}: no decodable frame")
            last = max(t for t in times if t is not None) if any(t is not None for t in times) else 0.0
            step = 1 / rate if rate else 0.0
            duration = duration or (last + step if last or step else float(n))
    except av.error.FFmpegError as exc:
        raise SampleError("corrupt_video", f"{path}: decoding failed ({exc})") from None
    finally:
        container.close()
    return ClipInfo(duration, rate, n)


def n_samples(info: ClipInfo, fps: float) -> int:
    """How many frames sampling at ``fps`` takes from a clip (at least one for any non-empty clip)."""
    return max(1, math.ceil(info.duration * fps - 1e-9)) if info.n_frames else 0


def decode_sampled(path: str | Path, fps: float) -> list[np.ndarray]:
    """BGR uint8 frames sampled at ``fps`` (see module docstring), in time order."""
    import av

    container = _open(path)
    frames: list[np.ndarray] = []
    try:
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        half = 0.5 / rate if rate else 0.0
        for i, frame in enumerate(container.decode(stream)):
            t = frame.time if frame.time is not None else (i / rate if rate else float(i))
            if t + half + 1e-9 >= len(frames) / fps:
                frames.append(frame.to_ndarray(format="bgr24"))
    except av.error.FFmpegError as exc:
        if not frames:
            raise SampleError("corrupt_video", f"{path}: decoding failed ({exc})") from None
        # A clip damaged part-way: keep what decoded; later samples report frame_missing.
    finally:
        container.close()
    if not frames:
        raise SampleError("corrupt_video", f"{path}: no decodable frame")
    return frames
