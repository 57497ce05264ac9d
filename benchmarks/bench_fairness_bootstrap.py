"""How long group bootstrap intervals take: ferbench's vectorised bootstrap vs Fairlearn's ``n_boot``.

Prints seconds for 1000 replicates of accuracy, macro-F1 and Fleiss' kappa per group (3 models, 4 groups)
on synthetic labels of the size of the FER2013 test set, and for Fairlearn's MetricFrame bootstrap of
accuracy alone with 100 replicates. Run: ``python benchmarks/bench_fairness_bootstrap.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score

from ferbench.metrics.groups import group_metrics


def main(n: int = 7178, k: int = 7, models: int = 3) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    pred = np.stack([np.where(rng.random(n) < 0.65, y, rng.integers(0, k, n)) for _ in range(models)], 1)
    keys = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n)
    t = time.perf_counter()
    group_metrics(y, pred, keys, [f"m{i}" for i in range(models)], k, n_boot=1000, seed=0)
    print(
        f"ferbench group_metrics, {n} samples, {models} models, 1000 replicates: {time.perf_counter() - t:.2f} s"
    )
    t = time.perf_counter()
    MetricFrame(
        metrics=accuracy_score,
        y_true=y,
        y_pred=pred[:, 0],
        sensitive_features=pd.Series(keys, name="g"),
        n_boot=100,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    print(f"fairlearn MetricFrame, accuracy of one model, 100 replicates: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
