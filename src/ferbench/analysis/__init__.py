"""Metrics sections of ``metrics.json`` beyond the skeleton's ``models`` and ``agreement``, and :func:`evaluate`.

Each module here registers its sections with :func:`ferbench.sections.section` (key, builder, report partial,
figures, title in one object); importing this package registers them all. Builders turn an
:class:`~ferbench.evaluate.EvalContext` into a JSON-ready dict by calling the pure functions in
:mod:`ferbench.metrics`. :func:`evaluate` sits here, above both the core (:mod:`ferbench.evaluate`) and the
sections, so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..evaluate import EvaluatedPredictions, evaluate_core, record_label_rule
from ..models.cards import ModelCard
from ..sections import Section, builders, register_section
from . import (  # noqa: F401,E402  (register sections)
    affect,
    agreement_disagreement,
    agreement_humans,
    agreement_levels,
    uncertainty,
)
from . import conformal as _conformal  # noqa: F401,E402
from . import faces as _faces  # noqa: F401,E402  (faces, video)
from . import fairness as _fairness  # noqa: F401,E402
from . import robustness as _robustness  # noqa: F401,E402

# The core's agreement section (built by ferbench.evaluate) has a detail partial in the report.
register_section(
    Section(
        "agreement",
        "Agreement detail",
        10,
        template="agreement_detail.html.j2",
        figures="ferbench.report.figures_agreement:section_figures",
    )
)


def evaluate(
    predictions: pd.DataFrame,
    samples: pd.DataFrame,
    cards: Sequence[ModelCard],
    labels: Sequence[str],
    *,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    variant: str = "clean",
) -> tuple[dict[str, Any], EvaluatedPredictions]:
    """Compute ``metrics.json``'s ``models`` and ``agreement`` sections, then every registered section."""
    out, ev, ctx = evaluate_core(
        predictions, samples, cards, labels, seed=seed, options=options, variant=variant
    )
    for key, builder in builders():
        result = builder(ctx)
        if result is not None:
            if isinstance(result, dict):
                record_label_rule(key, result)
            out[key] = result
    return out, ev
