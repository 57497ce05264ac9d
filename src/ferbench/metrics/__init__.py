"""Metrics: pure functions of labels and probabilities."""

from .agreement import cohen_kappa, cohen_kappa_matrix, fleiss_kappa, percent_agreement, rating_counts
from .classification import classification_summary

__all__ = [
    "classification_summary",
    "cohen_kappa",
    "cohen_kappa_matrix",
    "fleiss_kappa",
    "percent_agreement",
    "rating_counts",
]
