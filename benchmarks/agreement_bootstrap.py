"""How long 1,000 bootstrap resamples of agreement statistics take on 1M items × 9 raters.

Prints the time for each resampling method (``multinomial`` over distinct count rows, and the chunked ``(B, n)``
item-index matrix) plus the bootstrap spread of Fleiss' kappa under both, which should match.
Run: ``python benchmarks/agreement_bootstrap.py [--items N] [--raters R] [--resamples B]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ferbench.metrics.agreement import cohen_kappa_estimate, count_agreement, rating_counts


def synthetic(n: int, raters: int, k: int, seed: int) -> np.ndarray:
    """Raters who copy a latent label with probability 0.4, else pick at random: kappa around 0.3."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    r = rng.integers(0, k, (n, raters))
    copy = rng.random((n, raters)) < 0.4
    return np.where(copy, truth[:, None], r)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--raters", type=int, default=9)
    ap.add_argument("--categories", type=int, default=7)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--sections", action="store_true", help="also time the metrics.json sections")
    args = ap.parse_args()
    r = synthetic(args.items, args.raters, args.categories, 0)
    t = time.perf_counter()
    counts = rating_counts(r, args.categories)
    print(f"count table {counts.shape}: {time.perf_counter() - t:.2f} s")
    for method in ("multinomial", "index"):
        t = time.perf_counter()
        res = count_agreement(counts, n_resamples=args.resamples, method=method)  # type: ignore[arg-type]
        dt = time.perf_counter() - t
        fk = res.fleiss_kappa
        print(
            f"{method:>11}: {args.resamples} resamples of {args.items:,} items x {args.raters} raters "
            f"(Fleiss, per-class, alpha, shares): {dt:.2f} s; "
            f"Fleiss kappa {fk.value:.4f} [{fk.ci_low:.4f}, {fk.ci_high:.4f}]"
        )
    t = time.perf_counter()
    e = cohen_kappa_estimate(r[:, 0], r[:, 1], args.categories, n_resamples=args.resamples)
    print(
        f"Cohen's kappa, one pair, {args.resamples} resamples: {time.perf_counter() - t:.2f} s ({e.value:.4f})"
    )
    if args.sections:
        sections(r, args.categories)


def sections(r: np.ndarray, k: int) -> None:
    """Time the metrics.json sections (agreement, levels, disagreement) on the same synthetic predictions."""
    import pandas as pd

    from ferbench.analysis.agreement_disagreement import disagreement_section
    from ferbench.analysis.agreement_levels import agreement_levels_section
    from ferbench.evaluate import EvalContext, EvaluatedPredictions, agreement_section
    from ferbench.labels import CANONICAL_LABELS

    n, m = r.shape
    labels = CANONICAL_LABELS[:k]
    proba = np.random.default_rng(1).random((n, m, k), dtype=np.float32)
    ev = EvaluatedPredictions(
        np.arange(n).astype(str), r[:, 0], labels, [f"m{j}" for j in range(m)], r, proba,
        np.zeros((n, m)), np.full((n, m), "ok", dtype=object),
    )  # fmt: skip
    ctx = EvalContext(ev, [], pd.DataFrame(), pd.DataFrame())
    for name, fn in (
        ("agreement", lambda: agreement_section(ev)),
        ("agreement_levels (4 levels)", lambda: agreement_levels_section(ctx)),
        ("disagreement", lambda: disagreement_section(ctx)),
    ):
        t = time.perf_counter()
        fn()
        print(f"{name} section, {n:,} items x {m} models: {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
