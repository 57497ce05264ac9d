"""How long 1,000 bootstrap resamples take on 1M items × 9 models: agreement, fairness and robustness.

Prints the time for each resampling method of the agreement statistics (``multinomial`` over distinct count
rows, and the chunked ``(B, n)`` item-index matrix) plus the bootstrap spread of Fleiss' kappa under both,
which should match; then the fairness intervals (``group_metrics``: accuracy, macro-F1, failure and abstention
rate per group and model, gaps, per-group Fleiss' kappa) and the robustness intervals (``robustness_metrics``:
paired accuracy drop per model and for the ensemble, ECE, label change, kappa drop) on the same synthetic
predictions, each with its seconds and the extra memory it allocated at its peak (tracemalloc, which sees
NumPy's buffers), beyond the inputs.
Run: ``python benchmarks/agreement_bootstrap.py [--items N] [--raters R] [--resamples B] [--no-fairness]``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

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
    ap.add_argument("--no-fairness", action="store_true", help="skip the fairness and robustness intervals")
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
    if not args.no_fairness:
        fairness_and_robustness(r, args.categories, args.resamples)
    if args.sections:
        sections(r, args.categories)


def measured(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, peak extra MiB allocated while ``fn`` ran)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return out, dt, peak / 2**20


def fairness_and_robustness(r: np.ndarray, k: int, resamples: int) -> None:
    """Fairness and robustness intervals on the same synthetic predictions (4 groups; one perturbation)."""
    from ferbench.analysis.robustness import robustness_metrics
    from ferbench.evaluate import EvaluatedPredictions
    from ferbench.labels import CANONICAL_LABELS
    from ferbench.metrics.groups import group_metrics

    n, m = r.shape
    rng = np.random.default_rng(2)
    truth = rng.integers(0, k, n)
    pred = np.where(rng.random((n, m)) < 0.03, -1, r)  # 3 % failed samples
    keys = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n)
    conf = rng.random((n, m))
    ids = [f"m{j}" for j in range(m)]
    res, dt, mib = measured(
        lambda: group_metrics(truth, pred, keys, ids, k, n_boot=resamples, seed=0, confidence=conf)
    )
    acc = res["models"]["m0"]["by_group"]["a"]["accuracy"]
    print(
        f"fairness: group_metrics, {n:,} items x {m} models x 4 groups, {resamples} resamples "
        f"(accuracy, macro-F1, failure and abstention rate, gaps, per-group Fleiss): {dt:.2f} s, "
        f"extra memory {mib:.0f} MiB; m0 accuracy in group a {acc['value']:.4f} {acc['ci']}"
    )

    def ev(p: np.ndarray) -> EvaluatedPredictions:
        proba = rng.random((n, m, k))
        proba /= proba.sum(axis=2, keepdims=True)
        return EvaluatedPredictions(
            np.arange(n).astype(str), truth, CANONICAL_LABELS[:k], ids, p, proba,
            np.zeros((n, m)), np.full((n, m), "ok", dtype=object),
        )  # fmt: skip

    clean = ev(pred)
    flipped = np.where(rng.random((n, m)) < 0.1, rng.integers(0, k, (n, m)), pred)
    pert = ev(np.where(pred < 0, -1, flipped))
    res, dt, mib = measured(lambda: robustness_metrics(clean, pert, seed=0, key="blur:3"))
    d = res["models"]["m0"]["accuracy_drop"]
    print(
        f"robustness: robustness_metrics, {n:,} items x {m} models, one perturbation, {resamples} resamples "
        f"(paired accuracy drop per model and ensemble, ECE, label change, kappa drop): {dt:.2f} s, "
        f"extra memory {mib:.0f} MiB; m0 accuracy drop {d['value']:.4f} {d['ci']}"
    )


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
