"""Pure parts of the job: spec validation, space expansion, trial ids, metrics. No Spark."""
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
from hyperspark.space import expand, grid, sample, trial_id
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


def test_examples_validate():
    for f in sorted((REPO / "examples").glob("*.yaml")):
        load_spec(f)


def test_invalid_spec_exits_2_with_one_line_and_no_spark(tmp_path, base_spec):
    p = tmp_path / "s.json"
    p.write_text(json.dumps(_with(base_spec, "cv_folds", 1)))
    r = subprocess.run([sys.executable, str(REPO / "jobs" / "tune.py"), str(p)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["hyperspark: error: invalid spec: cv_folds: must be at least 2 (got 1)"]


# ------------------------------------------------------------------ spaces and ids
def test_grid_is_the_cartesian_product_in_order():
    g = grid({"b": ["x", "y", "z"], "a": [1, 2], "c": 7})  # names sorted, as ParameterGrid does
    assert len(g) == 6 and g[0] == {"a": 1, "b": "x", "c": 7} and g[-1] == {"a": 2, "b": "z", "c": 7}


def test_seed_grid_has_24_sets():
    s = load_spec(REPO / "examples" / "mllib_rf_grid.yaml")
    assert len(expand(s.model, s.space, "grid", None, 0)) == 24


def test_random_sampling_is_reproducible_and_in_bounds():
    space = {"lr": {"loguniform": [1e-3, 1e-1]}, "d": {"int": [2, 4]}, "u": {"uniform": [0.5, 0.6]},
             "c": {"choice": ["a", "b"]}}
    a, b = sample(space, 200, 5), sample(space, 200, 5)
    assert a == b and sample(space, 200, 6) != a
    assert all(1e-3 <= r["lr"] <= 1e-1 and r["d"] in (2, 3, 4) and 0.5 <= r["u"] <= 0.6 for r in a)
    assert {r["d"] for r in a} == {2, 3, 4} and {r["c"] for r in a} == {"a", "b"}
    logs = np.log10([r["lr"] for r in a])  # loguniform: roughly uniform in log space
    assert -2.4 < logs.mean() < -1.6


def test_trial_ids_are_stable_and_order_free():
    assert trial_id("m", {"a": 1, "b": 2}) == trial_id("m", {"b": 2, "a": 1})
    assert trial_id("m", {"a": 1}) != trial_id("m", {"a": 2}) != trial_id("n", {"a": 2})
    assert trial_id("m", {"a": np.int64(3)}) == trial_id("m", {"a": 3})
    # pinned: resume across versions depends on ids never changing
    assert trial_id("sklearn.random_forest", {"max_depth": 3}) == "c62eecc9422b"


def test_random_duplicates_are_dropped():
    trials = expand("m", {"a": {"choice": [1, 2]}}, "random", 50, 1)
    assert sorted(t.params["a"] for t in trials) == [1, 2]


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


def test_metric_direction():
    assert M.better(0.9, 0.8, "roc_auc") and M.better(0.8, 0.9, "rmse")
    assert not M.better(float("nan"), 0.1, "f1") and M.better(0.1, float("nan"), "f1")
