"""The Python API inside an already-running SparkSession (local[2]), plus the test user's package.

``hs_testpkg`` (tests/api/pkgs) is a user's package: it is not importable until a test puts it on the
driver's path (``testpkg``) and ships it to executors (``py_files``/``--package``), as a user would.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PKGS = Path(__file__).resolve().parent / "pkgs"
TESTPKG = PKGS / "hs_testpkg"
BREAST_CANCER = REPO / "examples" / "data" / "breast_cancer.csv"


@pytest.fixture(scope="session")
def spark():
    """The user's session: already running before hyperspark is called (reused if the job tests made it)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2]").appName("hyperspark-api-tests")
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.shuffle.partitions", "4")
         .config("spark.hadoop.fs.defaultFS", "file:///")
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s  # stopped by whichever session fixture made it (the job tests' one stops it too)


@pytest.fixture(scope="session")
def testpkg(spark):
    """hs_testpkg importable on the driver and shipped to local[2]'s Python workers (once per session)."""
    from hyperspark_job import package

    spark.sparkContext.addPyFile(package.prepare(str(TESTPKG)))
    return TESTPKG


@pytest.fixture
def bc_frame():
    import pandas as pd

    return pd.read_csv(BREAST_CANCER)
