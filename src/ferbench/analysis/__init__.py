"""Metrics sections of ``metrics.json`` beyond the skeleton's ``models`` and ``agreement``.

Each module here registers builders with :func:`ferbench.evaluate.register_section`; importing this package
registers them all. Builders turn an :class:`~ferbench.evaluate.EvalContext` into a JSON-ready dict by
calling the pure functions in :mod:`ferbench.metrics`.
"""

from . import agreement_disagreement, agreement_humans, agreement_levels  # noqa: F401,E402  (register sections)
