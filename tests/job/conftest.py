"""Job test fixtures; the local[2] ``spark`` session is tests/spark_fixtures.py's (stages are testable without a cluster)."""
from __future__ import annotations

import pytest

from tests.paths import REPO

BREAST_CANCER = REPO / "examples" / "data" / "breast_cancer.csv"


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
