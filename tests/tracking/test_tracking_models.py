"""The best model logged with its flavour and loaded back with ``mlflow.pyfunc.load_model``: the
single-machine libraries through ``mlflow.sklearn``, a ``pyspark.ml`` model through ``mlflow.spark``."""
from __future__ import annotations

import uuid

import numpy as np
import pytest

from hyperspark.job.tracking import MlflowTracker
from tests.tracking.test_tracking import SPEC, rows, summary

pytest.importorskip("mlflow", reason="mlflow is not installed (pip install -e .[tracking] or .[dev])")


def _data():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_boosting_models_log_as_sklearn_and_predict(mlflow_server: str, library: str) -> None:
    import mlflow.pyfunc

    pytest.importorskip(library, reason=f"{library} is not installed (pip install -e .[boost])")
    X, y = _data()
    if library == "xgboost":
        from xgboost import XGBClassifier

        model = XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(X, y)
    else:
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(n_estimators=5, num_leaves=4, n_jobs=1, verbose=-1).fit(X, y)
    t = MlflowTracker(mlflow_server, f"exp-{uuid.uuid4().hex[:8]}", f"run-{library}", SPEC, {})
    t.start()
    t.log_trials(rows(2))
    info = t.finish(summary(f"run-{library}", rows(2)[1]), model=model, X_sample=X[:5])
    assert info["ok"] is True and info["flavor"] == "sklearn", info
    loaded = mlflow.pyfunc.load_model(info["model_uri"])
    np.testing.assert_array_equal(loaded.predict(X[:30]), model.predict(X[:30]))


@pytest.mark.spark
def test_spark_ml_model_logs_with_the_spark_flavour(spark, mlflow_server: str, tmp_path) -> None:
    import mlflow.pyfunc
    import pandas as pd

    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    # the session-wide local[2] session (tests/spark_fixtures.py), never stopped here
    X, y = _data()
    cols = [f"f{i}" for i in range(5)]
    pdf = pd.DataFrame(X[:, :5], columns=cols).assign(label=y.astype(float))
    df = spark.createDataFrame(pdf)
    # as the job refits: the bare MLlib model on an assembled "features" column
    assembled = VectorAssembler(inputCols=cols, outputCol="features").transform(df)
    model = LogisticRegression(maxIter=20).fit(assembled)
    t = MlflowTracker(mlflow_server, f"exp-{uuid.uuid4().hex[:8]}", "run-spark", SPEC, {})
    t.start()
    s = summary("run-spark", rows(2)[1])
    s.data.features = cols
    info = t.finish(s, model=model, X_sample=df.select(*cols).limit(5))
    assert info["ok"] is True and info["flavor"] == "spark", info
    loaded = mlflow.pyfunc.load_model(info["model_uri"])
    assert loaded.metadata.signature is not None
    got = np.asarray(loaded.predict(pdf[cols].head(20))).ravel()
    want = np.array([r.prediction for r in model.transform(assembled.limit(20)).select("prediction").collect()])
    np.testing.assert_array_equal(got, want)
