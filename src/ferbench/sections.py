"""Metrics sections: one registered object per section of ``metrics.json`` and of the report.

A :class:`Section` says everything about one section in one place: its ``metrics.json`` key, the builder that
computes it from the run (:class:`ferbench.evaluate.EvalContext` -> JSON-ready dict, or None to leave it out),
the report partial that shows it, the figures that partial draws and its title in the report's contents. Adding
a section is one ``@section(...)`` decorator on its builder in :mod:`ferbench.analysis`.

This module imports nothing else of ferbench, so both the metrics layer (which registers sections) and the
report (which renders them) can read it without depending on each other. ``figures`` is therefore named as
``"module:function"`` (a function of the metrics document returning the partial's figures), resolved by the
report when it renders: the analysis code never imports the drawing code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Builder = Callable[[Any], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Section:
    key: str  # the metrics.json key
    title: str  # the report's contents-bar name
    order: int  # place in the report (sections render in increasing order)
    builder: Builder | None = None  # None: built by ferbench.evaluate's core (models, agreement)
    template: str | None = None  # partial under report/templates/sections/; None: not in the report
    figures: str | None = None  # "module:function": metrics document -> this partial's figures
    lead: bool = False  # rendered before the models table (people vs models), not after the skeleton


SECTIONS: dict[str, Section] = {}


def register_section(s: Section) -> Section:
    """Register a section; a key is registered once (the same object again is a no-op)."""
    old = SECTIONS.get(s.key)
    if old is not None and old != s:
        raise ValueError(f"metrics section '{s.key}' registered twice")
    SECTIONS[s.key] = s
    return s


def section(
    key: str,
    *,
    title: str,
    order: int,
    template: str | None = None,
    figures: str | None = None,
    lead: bool = False,
) -> Callable[[Builder], Builder]:
    """Decorator: register the decorated builder as section ``key`` (see :class:`Section`)."""

    def deco(fn: Builder) -> Builder:
        register_section(Section(key, title, order, fn, template, figures, lead))
        return fn

    return deco


def builders() -> list[tuple[str, Builder]]:
    """(key, builder) of every section with a builder, in registration order (the metrics.json key order)."""
    return [(s.key, s.builder) for s in SECTIONS.values() if s.builder is not None]


def report_sections() -> list[Section]:
    """Sections with a report partial, in report order."""
    return sorted((s for s in SECTIONS.values() if s.template), key=lambda s: s.order)
