"""The Python API inside an already-running SparkSession (local[2]), plus the test user's package.

``hs_testpkg`` (tests/api/pkgs) is a user's package: it is not importable until a test puts it on the
driver's path (``testpkg``) and ships it to executors (``py_files``/``--package``), as a user would.
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PKGS = Path(__file__).resolve().parent / "pkgs"
TESTPKG = PKGS / "hs_testpkg"
BREAST_CANCER = REPO / "examples" / "data" / "breast_cancer.csv"


@pytest.fixture(scope="session")
def testpkg(spark):
    """hs_testpkg importable on the driver and shipped to local[2]'s Python workers (once per session)."""
    from hyperspark.job import package

    spark.sparkContext.addPyFile(package.prepare(str(TESTPKG)))
    return TESTPKG


@pytest.fixture
def bc_frame():
    import pandas as pd

    return pd.read_csv(BREAST_CANCER)
