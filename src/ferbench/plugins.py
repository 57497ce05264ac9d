"""Entry points other packages use to add models, dataset loaders and perturbations.

A distribution declares, in its packaging metadata::

    [project.entry-points."ferbench.models"]
    my-models = "my_pkg.ferbench_cards:CARDS"        # ModelCard(s), CallableModel(s) or card file paths
    [project.entry-points."ferbench.datasets"]
    my-layout = "my_pkg.loader:load"                  # a loader: (root, **options) -> Dataset
    [project.entry-points."ferbench.perturbations"]
    my-blur = "my_pkg.perturb:MY_BLUR"                # a ferbench.perturb.Perturbation

Each registry asks :func:`entry_point_objects` for its group the first time it is listed or searched, so
importing ferbench never imports a plugin. A plugin that fails to import is reported on stderr (one line,
naming the distribution) and left out: someone else's broken package must not stop a benchmark.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import metadata
from typing import Any

GROUPS = ("ferbench.models", "ferbench.datasets", "ferbench.perturbations")


@cache
def entry_point_objects(group: str) -> tuple[tuple[str, str, Any], ...]:
    """(distribution name, entry-point name, loaded object) for every entry point of ``group``."""
    out = []
    for ep in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import error of a third-party plugin
            print(
                f"ferbench: plugin '{ep.name}' of {dist} ({group}) failed to load: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            continue
        out.append((dist, ep.name, obj))
    return tuple(out)


def reset() -> None:
    """Forget loaded entry points (after ``sys.path`` changed, e.g. in tests)."""
    entry_point_objects.cache_clear()
