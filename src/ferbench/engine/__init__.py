"""Batching, caching and running models over datasets."""

from .runner import EngineOptions, EngineReport, run_models
from .store import PROB_COLUMNS, PredictionStore

__all__ = ["EngineOptions", "EngineReport", "PROB_COLUMNS", "PredictionStore", "run_models"]
