"""The self-contained HTML report (no network needed to view it)."""

from .html import render_report, write_report

__all__ = ["render_report", "write_report"]
