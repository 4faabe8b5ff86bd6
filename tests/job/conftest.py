"""One local[2] SparkSession for every job test (stages are testable without a cluster)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BREAST_CANCER = REPO / "examples" / "data" / "breast_cancer.csv"


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2]").appName("hyperspark-job-tests")
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.shuffle.partitions", "4")
         # SparkSession.builder keeps options in a class-level dict: an HDFS test earlier in the same
         # process may have set fs.defaultFS to its (now stopped) NameNode
         .config("spark.hadoop.fs.defaultFS", "file:///")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true")
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def base_spec(tmp_path):
    """A small valid spec dict on the bundled dataset, writing under tmp_path."""
    return {
        "name": "t",
        "dataset": {"uri": str(BREAST_CANCER), "label": "target"},
        "model": "sklearn.random_forest",
        "search": {"type": "grid"},
        "space": {"n_estimators": [10, 20], "max_depth": [2, 4]},
        "metric": "roc_auc",
        "cv_folds": 3,
        "seed": 3,
        "output": str(tmp_path / "out"),
    }
