"""HyperSpark from Python: tune any estimator or training function inside an existing SparkSession.

    import hyperspark
    result = hyperspark.tune(
        model="sklearn.random_forest",            # or estimator=MyEstimator(), or objective=fn
        space={"n_estimators": hyperspark.randint(10, 300), "max_depth": [3, 6, None]},
        data=pandas_df_or_spark_df_or_path, label="y",
        search="tpe", trials=40, metric="roc_auc",
    )
    result.best_params, result.best_score, result.trials, result.best_model, result.test_metrics

It builds the same spec a YAML file holds (``result.spec``, ``result.spec_yaml()``), validated by the same
code, and runs the job's own stages with the given session (default: the active one).

The package's parts (see docs/architecture.md): ``hyperspark.space`` (the search-space model),
``hyperspark.job`` (the PySpark job), ``hyperspark.ops`` (the ``hyperspark`` command and cluster kit,
``pip install hyperspark[ops]``). Importing ``hyperspark`` itself is cheap: the public names load on first
use, so the job's modules (``hyperspark.job.daemon`` on every executor) do not pay for the API.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    "tune": "hyperspark.api", "Result": "hyperspark.api",
    "SpecError": "hyperspark.errors", "JobError": "hyperspark.errors",
    "randint": "hyperspark.space", "int": "hyperspark.space", "uniform": "hyperspark.space",
    "loguniform": "hyperspark.space", "choice": "hyperspark.space",
}
__all__ = ["tune", "Result", "SpecError", "JobError", "randint", "int", "uniform", "loguniform", "choice"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from hyperspark.api import Result, tune
    from hyperspark.errors import JobError, SpecError
    from hyperspark.space import choice, loguniform, randint, uniform


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'hyperspark' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
