"""The self-contained HTML report (no network needed to view it)."""

from .html import render_html, render_report, render_run_dir, write_report

__all__ = ["render_html", "render_report", "render_run_dir", "write_report"]
