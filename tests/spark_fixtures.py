"""One local[2] SparkSession for every test that needs a session but no cluster (the job's stages, the
Python API, the pull executor): session-scoped, made on first use, stopped at the end of the run."""
from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2]").appName("hyperspark-tests")
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
