"""Per-clip aggregation of frame predictions and temporal stability (label flips between sampled frames).

Pure functions over arrays, so the ``video`` metrics section and tests share one definition:

* **mean** aggregation: average the frame distributions of a clip (frames the model scored), arg-max;
* **majority** aggregation: the most frequent frame label; a tie goes to the tied label with the higher mean
  probability (then the earlier label), so the result never depends on frame order;
* **flip rate**: over pairs of *adjacent* sampled frames (frame indices k and k+1) of the same face track
  that the model both scored, the fraction whose labels differ. A frame lost to a missed face breaks the
  chain rather than joining frames further apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClipResult:
    """One model's view of one clip."""

    n_scored: int
    mean_label: int  # -1 when no frame was scored
    majority_label: int
    n_pairs: int
    n_flips: int


def aggregate_clip(pred: np.ndarray, proba: np.ndarray) -> tuple[int, int, int]:
    """(n scored, mean-probability label, majority label) of one clip's frames for one model."""
    ok = pred >= 0
    if not ok.any():
        return 0, -1, -1
    mean = np.nanmean(proba[ok], axis=0)
    counts = np.bincount(pred[ok], minlength=proba.shape[1])
    tied = np.flatnonzero(counts == counts.max())
    majority = int(tied[np.argmax(mean[tied])])
    return int(ok.sum()), int(np.argmax(mean)), majority


def count_flips(frame_index: np.ndarray, pred: np.ndarray) -> tuple[int, int]:
    """(pairs, flips) over adjacent scored frames of one track; inputs in any order."""
    order = np.argsort(frame_index, kind="stable")
    fi, p = frame_index[order], pred[order]
    adjacent = (np.diff(fi) == 1) & (p[:-1] >= 0) & (p[1:] >= 0)
    flips = adjacent & (p[:-1] != p[1:])
    return int(adjacent.sum()), int(flips.sum())


def clip_results(
    clip_ids: np.ndarray, tracks: np.ndarray, frame_index: np.ndarray, pred: np.ndarray, proba: np.ndarray
) -> dict[str, ClipResult]:
    """Per clip, one model's aggregate labels and flip counts (pairs summed over the clip's face tracks)."""
    out: dict[str, ClipResult] = {}
    for clip in dict.fromkeys(clip_ids.tolist()):
        m = clip_ids == clip
        n, mean_label, majority = aggregate_clip(pred[m], proba[m])
        pairs = flips = 0
        for t in np.unique(tracks[m]):
            mt = m & (tracks == t)
            a, b = count_flips(frame_index[mt], pred[mt])
            pairs, flips = pairs + a, flips + b
        out[str(clip)] = ClipResult(n, mean_label, majority, pairs, flips)
    return out
