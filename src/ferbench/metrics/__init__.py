"""Metrics: pure functions of labels and probabilities."""

from .agreement import (
    CountAgreement,
    Estimate,
    agreement_shares,
    cohen_kappa,
    cohen_kappa_estimate,
    cohen_kappa_matrix,
    count_agreement,
    fleiss_kappa,
    fleiss_kappa_per_category,
    krippendorff_alpha,
    percent_agreement,
    rating_counts,
)
from .classification import classification_summary

__all__ = [
    "CountAgreement",
    "Estimate",
    "agreement_shares",
    "classification_summary",
    "cohen_kappa",
    "cohen_kappa_estimate",
    "cohen_kappa_matrix",
    "count_agreement",
    "fleiss_kappa",
    "fleiss_kappa_per_category",
    "krippendorff_alpha",
    "percent_agreement",
    "rating_counts",
]
