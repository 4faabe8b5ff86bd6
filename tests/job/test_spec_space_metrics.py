"""Pure parts of the job: spec validation (its space included), metrics. No Spark.

The search-space model itself (sampling, grids, ids) is tested in tests/unit/test_space.py."""
from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import yaml

from hyperspark.job import metrics as M
from hyperspark.errors import SpecError
from hyperspark.space import Int, Space
from hyperspark.job.spec import load_spec, parse_spec

from .conftest import REPO


def _err(spec: dict) -> str:
    with pytest.raises(SpecError) as e:
        parse_spec(spec)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def _with(base: dict, path: str, value):
    d = copy.deepcopy(base)
    node = d
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return d


_DELETE = object()


def test_valid_spec_defaults(base_spec):
    s = parse_spec(base_spec)
    assert s.cv_folds == 3 and s.test_fraction == 0.2 and s.data_shipping == "broadcast"
    assert s.model_def.strategy == "trials"


@pytest.mark.parametrize(
    "path,value,needle",
    [
        ("cv_folds", 1, "cv_folds: must be at least 2"),
        ("test_fraction", 1.0, "test_fraction"),
        ("test_fraction", 0, "test_fraction"),
        ("model", "sklearn.nope", "unknown model 'sklearn.nope'; valid models: "),
        ("space", {}, "search space is empty"),
        ("space", {"n_estimators": []}, "space.n_estimators: empty list"),
        ("space", {"n_trees": [1, 2]}, "space.n_trees: unknown parameter for sklearn.random_forest; valid: "),
        ("metric", "auc", "metric: unknown metric 'auc'"),
        ("dataset.label", _DELETE, "dataset.label: required key is missing"),
        ("surprise", 1, "surprise: unknown key"),
        ("data_shipping", "carrier-pigeon", "data_shipping"),
        ("parallelism", 0, "parallelism"),
    ],
)
def test_bad_spec_one_line_naming_the_key(base_spec, path, value, needle):
    assert needle in _err(_with(base_spec, path, value))


def test_grid_rejects_distributions_and_random_needs_trials(base_spec):
    s = _with(base_spec, "space", {"max_depth": {"int": [2, 5]}})
    assert "space.max_depth: a grid search takes a list" in _err(s)
    s = _with(s, "search", {"type": "random"})
    assert "search.trials is required" in _err(s)


def test_distribution_bounds(base_spec):
    s = _with(base_spec, "search", {"type": "random", "trials": 3})
    assert "low 5 is above high 2" in _err(_with(s, "space", {"max_depth": {"int": [5, 2]}}))
    assert "loguniform needs low > 0" in _err(_with(s, "space", {"min_impurity_decrease": {"loguniform": [0, 1]}}))


def test_mllib_params_validated_without_a_jvm(base_spec):
    s = _with(_with(base_spec, "model", "mllib.random_forest"), "space", {"maxDepth": [2], "numTreez": [3]})
    msg = _err(s)
    assert "space.numTreez" in msg and "numTrees" in msg


def test_relative_paths_resolve_against_spec_dir(tmp_path, base_spec):
    spec = _with(_with(base_spec, "dataset.uri", "data/x.csv"), "output", "out")
    p = tmp_path / "sub" / "s.yaml"
    p.parent.mkdir()
    p.write_text(yaml.safe_dump(spec))
    s = load_spec(p, ["cv_folds=4", "dataset.uri=hdfs://nn:8020/x.csv"])
    assert s.cv_folds == 4 and s.dataset.uri == "hdfs://nn:8020/x.csv"
    assert s.output == (tmp_path / "sub" / "out").as_uri()


def test_unreadable_spec_files(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_invalid_spec_exits_2_with_one_line_and_no_spark(tmp_path, base_spec):
    p = tmp_path / "s.json"
    p.write_text(json.dumps(_with(base_spec, "cv_folds", 1)))
    r = subprocess.run([sys.executable, str(REPO / "jobs" / "tune.py"), str(p)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["hyperspark: error: invalid spec: cv_folds: must be at least 2 (got 1)"]


# ------------------------------------------------------------------ the spec's space
def test_seed_grid_has_24_sets():
    s = load_spec(REPO / "examples" / "mllib_rf_grid.yaml")
    assert len(s.search_space.grid()) == 24


def test_spec_keeps_its_space_dict_and_models_it(base_spec):
    space = {"n_estimators": {"int": [10, 50]}, "max_depth": [2, 4, None], "criterion": "gini"}
    s = parse_spec(_with(_with(base_spec, "search", {"type": "random", "trials": 3}), "space", space))
    assert s.space == space  # spec.json and the fingerprint keep the spec's own spelling
    assert isinstance(s.search_space, Space) and s.search_space["n_estimators"] == Int(10, 50)
    assert s.search_space.to_spec() == space


@pytest.mark.parametrize("dim,needle", [
    ({"normal": [0, 1]},
     "space.max_depth: a distribution is one of {choice, uniform, loguniform, int: ...}, got {'normal': [0, 1]}"),
    ({"int": [2]}, "space.max_depth: int needs [low, high]"),
    ({"int": [2.0, 5]}, "space.max_depth: int needs integer bounds"),
    ({"choice": []}, "space.max_depth: choice needs a non-empty list"),
])
def test_bad_dimension_is_one_line_naming_the_parameter(base_spec, dim, needle):
    s = _with(_with(base_spec, "search", {"type": "random", "trials": 3}), "space", {"max_depth": dim})
    assert _err(s) == f"invalid spec: {needle}"


def test_grid_rejects_a_choice_distribution_too(base_spec):
    s = _with(base_spec, "space", {"max_depth": {"choice": [2, 4]}})
    assert _err(s) == ("invalid spec: space.max_depth: a grid search takes a list of values, not a distribution "
                       "(choice); use search.type: random")


# ------------------------------------------------------------------ metrics
def test_metrics_known_values():
    y = [0, 0, 1, 1]
    pred = [0, 1, 1, 1]
    assert M.score("accuracy", y, pred) == 0.75
    assert M.score("precision", y, pred) == pytest.approx(2 / 3)
    assert M.score("recall", y, pred) == 1.0
    assert M.score("f1", y, pred) == pytest.approx(0.8)
    assert M.score("roc_auc", y, None, [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert M.score("rmse", [0, 0], [3, 4]) == pytest.approx(math.sqrt(12.5))
    assert M.score("mae", [0, 0], [3, 4]) == 3.5
    assert M.score("r2", [1, 2, 3], [1, 2, 3]) == 1.0


def test_multiclass_roc_auc_from_decision_scores_is_the_one_vs_rest_average():
    # 3 classes; decision scores (rows do not sum to 1, as an SVC without probabilities gives them):
    # class 0's column ranks its two samples above the rest (AUC 1); in class 1's, one of its two samples
    # (1.5) is below one other sample (2): 7 of 8 pairs, AUC 0.875; class 2's is perfect; support 2/2/2
    y = np.array([0, 0, 1, 1, 2, 2])
    s = np.array([[5.0, 0, -1], [4, 1, 0], [0, 3, 1], [1, 1.5, 0], [-1, 2, 4], [0, 1, 3]])
    assert M.score("roc_auc", y, None, s, n_classes=3) == pytest.approx((1 + 0.875 + 1) / 3)
    # probabilities take scikit-learn's own path and give the same kind of number
    proba = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    from sklearn.metrics import roc_auc_score

    assert M.score("roc_auc", y, None, proba, n_classes=3) == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", average="weighted"))


def test_metric_direction():
    from hyperspark.job.protocol import better, greater_is_better

    assert better(0.9, 0.8, greater_is_better("roc_auc")) and better(0.8, 0.9, greater_is_better("rmse"))
    assert not better(float("nan"), 0.1, True) and better(0.1, float("nan"), True)
