"""Which strategy runs a spec: ``spec.strategy`` (trials | mllib | objective) -> its class."""
from __future__ import annotations

from hyperspark.job.spec import Spec
from hyperspark.job.strategies.base import Strategy
from hyperspark.job.strategies.estimator import EstimatorStrategy
from hyperspark.job.strategies.mllib import MLlibStrategy
from hyperspark.job.strategies.objective import ObjectiveStrategy

STRATEGIES: dict[str, type[Strategy]] = {cls.kind: cls for cls in (EstimatorStrategy, MLlibStrategy, ObjectiveStrategy)}


def strategy_for(spec: Spec) -> Strategy:
    return STRATEGIES[spec.strategy](spec)
