"""Metrics sections of ``metrics.json`` beyond the skeleton's ``models`` and ``agreement``.

Each module here registers builders with :func:`ferbench.evaluate.register_section`; importing this package
registers them all. Builders turn an :class:`~ferbench.evaluate.EvalContext` into a JSON-ready dict by
calling the pure functions in :mod:`ferbench.metrics`.
"""

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
