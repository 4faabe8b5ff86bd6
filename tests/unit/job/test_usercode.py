"""hyperspark.job.usercode: import paths, estimators from classes / instances / factories, objects shipped
as cloudpickle bytes, calling objectives and reading their scores, and the executor-side import check.
Every mistake is one line (no Spark; user modules are written to tmp_path)."""
from __future__ import annotations

import math
import re
import uuid

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from hyperspark.job import usercode as uc
from hyperspark.job.usercode import UserCodeError


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write a module with a unique name on sys.path; returns its name."""
    def make(source: str) -> str:
        name = f"hs_user_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{name}.py").write_text(source)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    return make


def error(fn, *args) -> str:
    with pytest.raises(UserCodeError) as e:
        fn(*args)
    assert "\n" not in str(e.value)
    return str(e.value)


# --------------------------------------------------------------------------- keys and import paths
def test_key_kinds():
    assert uc.is_import_path("sklearn.svm:NuSVC") and not uc.is_import_path("sklearn.random_forest")
    assert uc.is_object_key("object:estimator.X-1") and not uc.is_import_path("object:estimator.X-1")
    assert uc.is_user_code("a:b") and uc.is_user_code("object:x") and not uc.is_user_code("mllib.gbt")


def test_resolve_follows_dotted_attributes():
    import os

    assert uc.resolve("os.path:join") is os.path.join
    assert uc.resolve("collections:OrderedDict.fromkeys").__name__ == "fromkeys"


def test_resolve_errors_name_what_is_missing(user_module):
    assert error(uc.resolve, "sklearn.svm") == (
        "'sklearn.svm' is not an import path; write module:name (e.g. sklearn.svm:NuSVC)")
    assert error(uc.resolve, "nosuchpkg_x.models:M") == (
        "cannot import 'nosuchpkg_x.models:M': no module named 'nosuchpkg_x' "
        "(install it, or ship it with --py-files or --package)")
    assert error(uc.resolve, "os.path:nope") == "cannot import 'os.path:nope': module 'os.path' has no attribute 'nope'"
    broken = user_module("raise ValueError('bad config\\nmore')\n")
    assert error(uc.resolve, f"{broken}:x") == (
        f"cannot import '{broken}:x': importing {broken} raised ValueError: bad config")


# --------------------------------------------------------------------------- estimators
def test_new_estimator_from_a_class_an_instance_and_a_factory(user_module):
    mod = user_module(
        "from sklearn.linear_model import LogisticRegression\n"
        "TEMPLATE = LogisticRegression(C=0.5)\n"
        "def make():\n    return LogisticRegression(C=2.0)\n"
        "def not_one():\n    return 42\n"
        "class Picky:\n"
        "    def __init__(self):\n        raise RuntimeError('needs a config')\n"
        "    def fit(self): ...\n    def get_params(self): ...\n    def set_params(self): ...\n"
        "class NoFit:\n    pass\n")
    assert isinstance(uc.new_estimator("sklearn.linear_model:Ridge"), Ridge)
    a, b = uc.new_estimator(f"{mod}:TEMPLATE"), uc.new_estimator(f"{mod}:TEMPLATE")
    assert a is not b and a.C == 0.5  # a module-level instance is cloned, never shared
    assert uc.new_estimator(f"{mod}:make").C == 2.0
    assert error(uc.new_estimator, f"{mod}:not_one") == (
        f"{mod}:not_one() returned a int object, not a scikit-learn estimator "
        "(it needs fit, get_params and set_params)")
    assert error(uc.new_estimator, f"{mod}:Picky") == f"{mod}:Picky() raised RuntimeError: needs a config"
    assert error(uc.new_estimator, f"{mod}:NoFit") == (
        f"{mod}:NoFit is not a scikit-learn estimator (it needs fit, get_params and set_params)")


def test_estimator_tasks_from_sklearn_tags():
    assert uc.estimator_tasks(LogisticRegression()) == ["classification"]
    assert uc.estimator_tasks(Ridge()) == ["regression"]
    from sklearn.preprocessing import StandardScaler

    assert uc.estimator_tasks(StandardScaler()) == ["classification", "regression"]  # neither: the label decides


def test_objective_function_must_be_a_function():
    assert uc.objective_function("math:sqrt") is math.sqrt
    assert error(uc.objective_function, "collections:OrderedDict") == (
        "collections:OrderedDict is not a function (an objective is objective(params, data, budget) -> score)")


# --------------------------------------------------------------------------- objects shipped as bytes
def test_registered_objects_resolve_here_and_rebuild_from_their_bytes():
    def objective(params, data, budget):
        return params["x"] * 2

    key = uc.register(objective, "objective")
    assert re.fullmatch(r"object:objective\.[\w.-]{1,60}-[0-9a-f]{10}", key) and uc.is_object_key(key)
    assert uc.resolve(key) is objective and uc.objective_function(key) is objective
    blob = uc.payload(key)
    assert isinstance(blob, bytes) and uc.payload("math:sqrt") is None and uc.payload("sklearn.knn") is None
    assert uc.register(objective, "objective") == key  # same bytes, same key

    executor_key = key + "-elsewhere"  # an executor: the key is unknown until its bytes arrive
    assert error(uc.registered, executor_key).endswith(
        "is an object passed to hyperspark.tune in another process; pass it again, or name it by import path "
        "(module:name)")
    uc.ensure(executor_key, blob)
    rebuilt = uc.registered(executor_key)
    assert rebuilt is not objective and rebuilt({"x": 4}, None, None) == 8


def test_a_registered_estimator_instance_is_cloned():
    key = uc.register(LogisticRegression(C=3.0), "estimator")
    est = uc.new_estimator(key)
    assert isinstance(est, LogisticRegression) and est.C == 3.0 and est is not uc.registered(key)


# --------------------------------------------------------------------------- objectives
def test_report_is_passed_only_to_functions_that_take_it():
    seen = []

    def plain(params, data, budget):
        return ("plain", budget)

    def reporting(params, data, budget, report):
        report(1, 0.5)
        return "reporting"

    def kwargs(params, data, budget, **kw):
        return sorted(kw)

    def report(step, score):
        seen.append((step, score))

    assert uc.call_objective(plain, {}, None, 9, report) == ("plain", 9)
    assert uc.call_objective(reporting, {}, None, 9, report) == "reporting" and seen == [(1, 0.5)]
    assert uc.call_objective(kwargs, {}, None, 9, report) == ["report"]


def test_objective_score_accepts_numbers_and_dicts():
    assert uc.objective_score(0.5) == (0.5, {})
    assert uc.objective_score(3) == (3.0, {})
    assert uc.objective_score(np.float32(0.25)) == (0.25, {})
    assert uc.objective_score(np.array(0.75)) == (0.75, {})
    assert uc.objective_score({"score": 1, "loss": np.float64(0.2), "note": "text", "ok": True}) == (1.0, {"loss": 0.2})


@pytest.mark.parametrize("value,message", [
    ({"loss": 1}, "objective returned a dict without 'score' (keys: loss)"),
    (True, "objective returned bool True; expected a number or a dict with a numeric 'score'"),
    ("x" * 100, "objective returned str '" + "x" * 56 + "...; expected a number or a dict with a numeric 'score'"),
    (None, "objective returned NoneType None; expected a number or a dict with a numeric 'score'"),
    (float("nan"), "objective returned a non-finite score (nan)"),
    ({"score": float("inf")}, "objective returned a non-finite score (inf)"),
    (np.array([1.0, 2.0]),
     "objective returned ndarray array([1., 2.]); expected a number or a dict with a numeric 'score'"),
])
def test_objective_score_refuses_anything_else_in_one_line(value, message):
    with pytest.raises(ValueError) as e:
        uc.objective_score(value)
    assert str(e.value) == message


# --------------------------------------------------------------------------- the executor import check
def test_preload_says_none_when_fine_else_one_line(user_module):
    assert uc.preload("math:sqrt", None) is None
    assert uc.preload("nosuchpkg_y.mod:f", None) == (
        "module 'nosuchpkg_y' is not importable (ModuleNotFoundError: No module named 'nosuchpkg_y')")
    assert uc.preload("math:nope", None) == "cannot import 'math:nope': module 'math' has no attribute 'nope'"
    broken = user_module("raise KeyError('k')\n")
    assert uc.preload(f"{broken}:f", None) == "KeyError: 'k'"
    key = uc.register(len, "objective")
    assert uc.preload(key, uc.payload(key)) is None
