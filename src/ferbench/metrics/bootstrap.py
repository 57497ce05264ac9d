"""Shared machinery for bootstrap confidence intervals over items.

Every agreement statistic in :mod:`ferbench.metrics.agreement` is a smooth function of *sums over items* of
per-item features (vote counts, pairwise agreement, disagreement). Resampling items with replacement therefore
only changes how many times each item is counted. Two equivalent ways to draw those multiplicities:

* ``index``: the textbook way. Draw a ``(B, n)`` matrix of item indices, then count, per resample, how often
  each distinct item *pattern* (e.g. a row of the count table) was drawn. Done in chunks of resamples so the
  index matrix never has to exist all at once (1,000 × 1M indices would be 4 GB).
* ``multinomial``: items with the same pattern are interchangeable, so the number of draws that land on each
  pattern is Multinomial(n, frequency / n); drawing that directly is exactly the same distribution as the index
  matrix, at a cost proportional to the number of distinct patterns instead of ``n``. Nine raters and seven
  labels have at most C(15, 6) = 5,005 distinct count rows however many items there are, so 1,000 resamples of
  a million items take well under a second.

``auto`` picks ``multinomial`` when patterns are few compared with items. Both give a ``(B, U)`` weight matrix;
statistics are then ``weights @ per_pattern_features`` followed by elementwise array arithmetic.

Intervals are percentile intervals (the ``confidence`` central share of the bootstrap distribution). Seeds are
derived from the user's seed and a stable key per statistic, so each run is reproducible bit for bit.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["auto", "multinomial", "index"]

DEFAULT_RESAMPLES = 1000
_BINCOUNT_LIMIT = 1 << 22
DEFAULT_CONFIDENCE = 0.95


def rng_for(seed: int, key: str) -> np.random.Generator:
    """A generator for one statistic: the same (seed, key) always gives the same stream, whatever ran before."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode())]))


@dataclass(frozen=True)
class Patterns:
    """Distinct rows of a per-item table: ``rows[inverse] == table`` and ``freq`` counts each distinct row."""

    rows: np.ndarray  # (U, F)
    freq: np.ndarray  # (U,) int64
    inverse: np.ndarray  # (n,) int64

    @property
    def n_items(self) -> int:
        return int(self.freq.sum())


def compress(table: np.ndarray) -> Patterns:
    """Group identical item rows. Small non-negative integer tables use a single mixed-radix key (fast)."""
    t = np.asarray(table)
    if t.ndim == 1:
        t = t[:, None]
    if t.shape[0] == 0:
        return Patterns(t.reshape(0, t.shape[1]), np.zeros(0, np.int64), np.zeros(0, np.int64))
    if np.issubdtype(t.dtype, np.integer) and t.min() >= 0:
        base = int(t.max()) + 1
        if t.shape[1] * np.log2(max(base, 2)) < 62:
            weights = base ** np.arange(t.shape[1], dtype=np.int64)
            key = t.astype(np.int64) @ weights
            space = base ** t.shape[1]
            if space <= _BINCOUNT_LIMIT:  # small key space: counting beats sorting
                counts = np.bincount(key, minlength=space)
                present = np.flatnonzero(counts)
                lut = np.zeros(space, dtype=np.int64)
                lut[present] = np.arange(len(present))
                digits = (present[:, None] // weights[None, :]) % base
                return Patterns(digits.astype(t.dtype), counts[present].astype(np.int64), lut[key])
            uniq, first, inverse, freq = np.unique(
                key, return_index=True, return_inverse=True, return_counts=True
            )
            return Patterns(t[first], freq.astype(np.int64), inverse.ravel().astype(np.int64))
    rows, inverse, freq = np.unique(t, axis=0, return_inverse=True, return_counts=True)
    return Patterns(rows, freq.astype(np.int64), inverse.ravel().astype(np.int64))


def resample_weights(
    patterns: Patterns,
    n_resamples: int,
    rng: np.random.Generator,
    method: Method = "auto",
    chunk: int = 32,
) -> np.ndarray:
    """(B, U) counts: how often each pattern is drawn in each of ``n_resamples`` item resamples."""
    n = patterns.n_items
    u = len(patterns.freq)
    if n == 0:
        raise ValueError("cannot resample an empty set of items")
    if method == "auto":
        method = "multinomial" if u <= max(64, n // 8) else "index"
    if method == "multinomial":
        return rng.multinomial(n, patterns.freq / n, size=n_resamples).astype(np.int64)
    if method != "index":
        raise ValueError(f"unknown resampling method '{method}'")
    out = np.empty((n_resamples, u), dtype=np.int64)
    inverse = patterns.inverse.astype(np.int32 if u < 2**31 else np.int64)
    index_dtype = np.int32 if n < 2**31 else np.int64
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(b, n), dtype=index_dtype)  # the (b, n) item-index matrix
        pid = inverse[idx].astype(np.int64)
        pid += (np.arange(b, dtype=np.int64) * u)[:, None]
        out[start : start + b] = np.bincount(pid.ravel(), minlength=b * u).reshape(b, u)
    return out


def percentile_interval(
    samples: np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval along axis 0, ignoring undefined (NaN) resamples.

    Returns (low, high, n_undefined); low/high are NaN where every resample was undefined.
    """
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim == 1:
        lo, hi, nu = percentile_interval(s[:, None], confidence)
        return lo[0], hi[0], nu[0]
    finite = np.isfinite(s)
    n_undefined = (~finite).sum(axis=0)
    alpha = (1.0 - confidence) / 2.0
    low = np.full(s.shape[1:], np.nan)
    high = np.full(s.shape[1:], np.nan)
    some = finite.any(axis=0)
    if np.any(some):
        with np.errstate(all="ignore"):
            q = np.nanquantile(np.where(finite, s, np.nan)[:, some], [alpha, 1.0 - alpha], axis=0)
        low[some], high[some] = q[0], q[1]
    return low, high, n_undefined


def pattern_weights(
    table: np.ndarray, n_resamples: int, seed: int, key: str, method: Method = "auto"
) -> tuple[Patterns, np.ndarray]:
    """Distinct item rows of ``table`` and their (B, U) resample counts from the stream ``(seed, key)``.

    The one way every interval in ferbench resamples items: a statistic that is a function of per-item
    features is ``weights @ features`` per resample, so memory is (B × distinct rows), never B × items, and
    the stream depends only on ``key`` (a model, a group, a variant), never on what else is computed.
    """
    pat = compress(table)
    if pat.n_items == 0:
        return pat, np.zeros((n_resamples, 0), dtype=np.int64)
    return pat, resample_weights(pat, n_resamples, rng_for(seed, key), method)


def interval(
    replicates: np.ndarray | None, confidence: float = DEFAULT_CONFIDENCE
) -> dict[str, float | int | None | list[float | None]]:
    """``{"ci": [low, high], "n_undefined": k}``: the percentile interval over the defined replicates and how
    many replicates were undefined (NaN: a resample with no item of a class, a ratio over zero…)."""
    if replicates is None or len(replicates) == 0:
        return {"ci": [None, None], "n_undefined": 0}
    lo, hi, nu = percentile_interval(np.asarray(replicates, dtype=np.float64), confidence)
    as_num = [None if not np.isfinite(v) else float(v) for v in (lo, hi)]
    return {"ci": as_num, "n_undefined": int(nu)}
