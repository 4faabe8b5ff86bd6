"""HyperSpark from Python: tune any estimator or training function inside an existing SparkSession.

    import hyperspark
    result = hyperspark.tune(
        model="sklearn.random_forest",            # or estimator=MyEstimator(), or objective=fn
        space={"n_estimators": hyperspark.int(10, 300), "max_depth": [3, 6, None]},
        data=pandas_df_or_spark_df_or_path, label="y",
        search="tpe", trials=40, metric="roc_auc",
    )
    result.best_params, result.best_score, result.trials, result.best_model, result.test_metrics

It builds the same spec a YAML file holds (``result.spec``, ``result.spec_yaml()``), validated by the same
code, and runs the job's own stages with the given session (default: the active one).
"""
from hyperspark_job.errors import JobError, SpecError

from .api import Result, tune
from .distributions import choice, int, loguniform, uniform  # noqa: A004 - hyperspark.int is the point

__all__ = ["tune", "Result", "SpecError", "JobError", "int", "uniform", "loguniform", "choice"]
