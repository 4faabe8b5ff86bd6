"""The Python API inside an already-running SparkSession (local[2]), plus the test user's package.

``hs_testpkg`` (tests/api/pkgs) is a user's package: it is not importable until a test puts it on the
driver's path (the root conftest's ``testpkg`` fixture) and ships it to executors (``py_files``/``--package``),
as a user would.
"""
from __future__ import annotations

import pytest

from tests.paths import REPO, TESTPKG

PKGS = TESTPKG.parent
BREAST_CANCER = REPO / "examples" / "data" / "breast_cancer.csv"


@pytest.fixture
def bc_frame():
    import pandas as pd

    return pd.read_csv(BREAST_CANCER)
