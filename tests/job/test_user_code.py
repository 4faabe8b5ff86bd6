"""Any estimator by import path and any objective function, through the job on local[2].

The user's package (tests/api/pkgs/hs_testpkg) is put on the driver's path and shipped with addPyFile,
as ``--package`` does; a module only the driver can import fails before the search, in one line.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperspark.errors import JobInputError, SpecError
from hyperspark.job.run import run
from hyperspark.job.protocol import RunSummary, parse_trials
from hyperspark.job.spec import parse_spec
from tests.paths import TESTPKG

from .conftest import BREAST_CANCER, REPO


def _err(spec: dict) -> str:
    with pytest.raises(SpecError) as e:
        parse_spec(spec)
    assert "\n" not in str(e.value)
    return str(e.value)


# ------------------------------------------------------------------ validation (no Spark work)
def test_bad_import_paths_are_one_line(base_spec, testpkg):
    msg = _err(dict(base_spec, model="nosuchpkg.models:Thing"))
    assert msg == ("invalid spec: model: cannot import 'nosuchpkg.models:Thing': no module named 'nosuchpkg' "
                   "(install it, or ship it with --py-files or --package)")
    assert "has no attribute 'Nope'" in _err(dict(base_spec, model="hs_testpkg.models:Nope"))
    assert _err(dict(base_spec, model="hs_testpkg.models:NotAnEstimator")) == (
        "invalid spec: model: hs_testpkg.models:NotAnEstimator is not a scikit-learn estimator "
        "(it needs fit, get_params and set_params)")
    assert _err(dict(base_spec, model=None, objective="nosuchpkg.train:fn")).startswith(
        "invalid spec: objective: cannot import 'nosuchpkg.train:fn': no module named 'nosuchpkg'")
    # registry keys keep their text
    assert "unknown model 'sklearn.nope'; valid models: " in _err(dict(base_spec, model="sklearn.nope"))


def test_custom_estimator_params_checked_deep(base_spec, testpkg):
    ok = parse_spec(dict(base_spec, model="sklearn.svm:NuSVC", space={"nu": [0.3, 0.5], "kernel": ["rbf"]}))
    assert ok.model_def.tasks() == ["classification"] and ok.model_def.library == "custom"
    msg = _err(dict(base_spec, model="hs_testpkg.pipes:make_pipeline", space={"clf__Cx": [1.0]}))
    assert msg.startswith("invalid spec: space.clf__Cx: unknown parameter for hs_testpkg.pipes:make_pipeline; "
                          "valid: ") and "clf__C" in msg
    es = {"type": "asha", "resource": "clf__max_iter", "min": 10, "max": 90}
    parse_spec(dict(base_spec, model="hs_testpkg.pipes:make_pipeline", space={"clf__C": [1.0]}, early_stopping=es))
    msg = _err(dict(base_spec, model="hs_testpkg.models:ShrunkCentroids", space={"shrink": [0.1]},
                    early_stopping=dict(es, resource="epochs")))
    assert "no budget parameter 'epochs'; valid: max_iter" in msg


def test_objective_spec_rules(base_spec, testpkg):
    obj = dict(base_spec, model=None, objective="hs_testpkg.train:quadratic", space={"a": [0.1, 0.3]})
    obj.pop("cv_folds")
    obj.pop("metric")
    s = parse_spec(obj)
    assert s.is_objective and s.greater_is_better and s.strategy == "objective"
    assert "cv_folds: does not apply to an objective" in _err(dict(obj, cv_folds=3))
    assert "give model or objective, not both" in _err(dict(obj, model="sklearn.random_forest"))
    assert "direction: applies to objectives" in _err(dict(base_spec, direction="minimize"))
    assert _err(dict(obj, objective="hs_testpkg.models:ShrunkCentroids")).endswith("is not a function "
                                                                                   "(an objective is objective(params, data, budget) -> score)")
    none = dict(obj, dataset={"uri": "hdfs://nn:8020/images"})
    assert "dataset.label: required key is missing" in _err(none)
    assert parse_spec(dict(none, dataset={"uri": "hdfs://nn:8020/images", "load": "none"})).dataset.label is None
    assert "model: required key is missing" in _err(dict(obj, objective=None))


def test_cli_bad_import_path_and_package_exit_2_in_one_line(tmp_path, base_spec):
    import yaml

    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(dict(base_spec, model="nosuchpkg.models:Thing")))
    tune = [sys.executable, str(REPO / "jobs" / "tune.py"), str(p)]
    r = subprocess.run(tune, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("hyperspark: error: invalid spec: model: cannot import 'nosuchpkg.models:Thing': no module "
                        "named 'nosuchpkg' (install it, or ship it with --py-files or --package)\n")
    r = subprocess.run(tune + ["--package", str(tmp_path / "nope")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr == f"hyperspark: error: --package {tmp_path / 'nope'}: no such file or directory\n"
    # with --package the same spec validates against the shipped package (no Spark needed for --validate-only)
    p.write_text(yaml.safe_dump(dict(base_spec, model="hs_testpkg.models:ShrunkCentroids", space={"shrink": [0.1]})))
    r = subprocess.run(tune + ["--package", str(TESTPKG), "--validate-only"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout) == {"valid": True, "model": "hs_testpkg.models:ShrunkCentroids",
                                                         "strategy": "trials"}


def test_package_zip_is_deterministic(tmp_path):
    import zipfile

    from hyperspark.job.package import zip_package

    a, b = zip_package(TESTPKG, tmp_path / "a"), zip_package(TESTPKG, tmp_path / "b")
    assert a.name == b.name and a.read_bytes() == b.read_bytes() and a.name.startswith("hs_testpkg-")
    names = zipfile.ZipFile(a).namelist()
    assert "hs_testpkg/__init__.py" in names and "hs_testpkg/models.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


# ------------------------------------------------------------------ runs
@pytest.mark.spark
def test_custom_estimator_by_path_matches_gridsearchcv(spark, base_spec, testpkg):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

    from hs_testpkg.models import ShrunkCentroids

    space = {"shrink": [0.0, 0.3, 0.6], "power": [1.0, 2.0]}
    spec = parse_spec(dict(base_spec, model="hs_testpkg.models:ShrunkCentroids", space=space, metric="accuracy"))
    s = run(spark, spec, run_id="custom", progress_live=False)
    df = pd.read_csv(BREAST_CANCER)
    X, y = df.drop(columns="target").to_numpy(float), df["target"].to_numpy()
    X_tr, _, y_tr, _ = train_test_split(X, y, test_size=0.2, random_state=3, stratify=y)
    gs = GridSearchCV(ShrunkCentroids(random_state=3), space, scoring="accuracy",
                      cv=StratifiedKFold(3, shuffle=True, random_state=3)).fit(X_tr, y_tr)
    assert s.best_params == gs.best_params_ and s.cv_score == pytest.approx(gs.best_score_, abs=1e-12)
    assert s.strategy == "trials" and s.model == "hs_testpkg.models:ShrunkCentroids" and s.test_metrics
    import joblib

    model = joblib.load(Path(base_spec["output"]) / "custom" / "model" / "model.joblib")
    assert model.seen_random_state_ == 3  # the spec's seed reached an estimator that accepts one


@pytest.mark.spark
def test_pipeline_factory_sets_nested_params(spark, base_spec, testpkg):
    spec = parse_spec(dict(base_spec, model="hs_testpkg.pipes:make_pipeline", space={"clf__C": [0.01, 1.0]}))
    s = run(spark, spec, run_id="pipe", progress_live=False)
    rows = parse_trials((Path(base_spec["output"]) / "pipe" / "trials.jsonl").read_text())
    assert len(rows) == 2 and all(r.ok for r in rows) and len({r.mean for r in rows}) == 2
    assert s.best_params in ({"clf__C": 0.01}, {"clf__C": 1.0})


def test_objective_under_asha_is_pruned_at_the_expected_rungs(base_spec, testpkg):
    """The ASHA rule (promote the top n // 3 of a rung's n results, at most n // 3 promoted from a rung so
    far; when the search ends without a full-budget result, the best of the highest rung goes on), worked by
    hand for values 5 3 7 1 9 2 8 4 6 arriving in that order: 7 goes up at n=3; 9 comes while the quota (1)
    is used and stops; 8 goes up at n=7 (quota 2); both stop at rung 1 (fewer than 3 results there); the end
    drains 8, the best of rung 1, to rung 2. One sequential worker (the job's joblib executor) makes the
    arrival order the ask order; on Spark a queued job per slot lets two finish in either order."""
    order = ["c5", "c3", "c7", "c1", "c9", "c2", "c8", "c4", "c6"]
    spec = dict(base_spec, model=None, objective="hs_testpkg.train:curve", space={"x": order}, parallelism=1,
                metric="acc", early_stopping={"type": "asha", "resource": "epochs", "min": 1, "max": 9,
                                              "reduction": 3})
    spec.pop("cv_folds")
    s = run(None, parse_spec(spec), run_id="asha-obj", progress_live=False, n_jobs=1)
    rows = parse_trials((Path(base_spec["output"]) / "asha-obj" / "trials.jsonl").read_text())
    assert [(r.params["x"], r.rung, r.decision) for r in rows] == [
        ("c5", 0, "prune"), ("c3", 0, "prune"), ("c7", 0, "promote"), ("c7", 1, "prune"), ("c1", 0, "prune"),
        ("c9", 0, "prune"), ("c2", 0, "prune"), ("c8", 0, "promote"), ("c8", 1, "prune"), ("c4", 0, "prune"),
        ("c6", 0, "prune"), ("c8", 2, "complete")]
    for r in rows:  # budget = epochs, each reported; extra numbers are metrics
        assert r.budget == [1, 3, 9][r.rung] and [st for st, _ in r.intermediate] == list(range(1, r.budget + 1))
        assert r.metrics["epochs"] == r.budget and r.mean == pytest.approx(r.intermediate[-1][1])
        assert r.fold_scores == []
    assert s.kind == "objective" and s.best_params == {"x": "c8", "epochs": 9}
    assert s.cv_score == pytest.approx(0.8 * 9 / 10) and s.test_metrics == {} and not s.model_saved
    assert s.best.metrics["rows"] == 455 and s.search.cv_folds is None
    assert s.early_stopping.per_rung == [9, 2, 1]
    out = Path(base_spec["output"]) / "asha-obj"
    assert not (out / "model").exists()
    assert RunSummary.model_validate_json((out / "summary.json").read_text()).best_params == s.best_params


@pytest.mark.spark
def test_objective_under_asha_on_spark(spark, base_spec, testpkg):
    """On Spark the arrival order varies; what holds in any order: every configuration starts at 1 epoch,
    the first two results of rung 0 are pruned (fewer than 3 seen), and the best full-budget result wins."""
    order = ["c5", "c3", "c7", "c1", "c9", "c2", "c8", "c4", "c6"]
    spec = dict(base_spec, model=None, objective="hs_testpkg.train:curve", space={"x": order}, metric="acc",
                early_stopping={"type": "asha", "resource": "epochs", "min": 1, "max": 9, "reduction": 3})
    spec.pop("cv_folds")
    s = run(spark, parse_spec(spec), run_id="asha-spark", progress_live=False)
    rows = parse_trials((Path(base_spec["output"]) / "asha-spark" / "trials.jsonl").read_text())
    assert sorted(r.params["x"] for r in rows if r.rung == 0) == sorted(order)
    rung1 = [r for r in rows if r.rung == 1]
    assert 1 <= len(rung1) <= 3 and all(r.budget == 3 for r in rung1)  # the quota: 9 // 3
    finals = [r for r in rows if r.rung == 2]
    assert finals and s.cv_score == max(r.mean for r in finals) and s.best_params["epochs"] == 9
    assert all(len(r.intermediate) == r.budget for r in rows)


@pytest.mark.spark
def test_objective_minimize_and_uri_data(spark, base_spec, testpkg):
    spec = dict(base_spec, model=None, objective="hs_testpkg.train:quadratic", direction="minimize",
                search={"type": "random", "trials": 6, "seed": 1}, space={"a": {"uniform": [0.0, 1.0]}})
    spec.pop("cv_folds")
    spec.pop("metric")
    s = run(spark, parse_spec(spec), run_id="min", progress_live=False)
    rows = parse_trials((Path(base_spec["output"]) / "min" / "trials.jsonl").read_text())
    assert not s.greater_is_better and s.metric == "score" and s.cv_score == min(r.mean for r in rows)
    uri = dict(spec, objective="hs_testpkg.train:reads_uri", direction=None, space={"k": [1, 2]},
               search={"type": "grid"}, dataset={"uri": "hdfs://nowhere:8020/images", "load": "none"})
    s = run(spark, parse_spec(uri), run_id="uri", progress_live=False)
    assert s.best_params == {"k": 2} and s.data.input == "uri" and s.task == "custom"


@pytest.mark.spark
def test_objective_returning_a_non_number_fails_in_one_line(spark, base_spec, testpkg):
    spec = dict(base_spec, model=None, objective="hs_testpkg.train:not_a_number", space={"a": [1, 2]})
    spec.pop("cv_folds")
    with pytest.raises(RuntimeError) as e:
        run(spark, parse_spec(spec), run_id="nan", progress_live=False)
    assert str(e.value) == ("every trial failed; first error: ValueError: objective returned str 'nope'; "
                            "expected a number or a dict with a numeric 'score'")
    out = Path(base_spec["output"]) / "nan"
    rows = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["error", "error"] and all(r["decision"] == "failed" for r in rows)
    assert not (out / "summary.json").exists()


@pytest.mark.spark
def test_module_only_the_driver_has_fails_before_the_search(spark, base_spec, tmp_path, monkeypatch):
    pkg = tmp_path / "src" / "driver_only_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "est.py").write_text("from sklearn.linear_model import LogisticRegression as Model\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    spec = parse_spec(dict(base_spec, model="driver_only_pkg.est:Model", space={"C": [0.1, 1.0]}))
    with pytest.raises(JobInputError) as e:
        run(spark, spec, run_id="noimp", progress_live=False)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("model driver_only_pkg.est:Model: module 'driver_only_pkg' is not "
                                              "importable (ModuleNotFoundError: No module named 'driver_only_pkg')"
                                              " on executor driver (")
    assert msg.endswith("; ship it with --py-files or --package")
    out = Path(base_spec["output"]) / "noimp"
    assert not (out / "summary.json").exists() and not (out / "trials.jsonl").exists()


def test_objective_in_one_process_without_spark(base_spec, testpkg):
    """The joblib executor (the bench's baseline) runs objectives too."""
    spec = dict(base_spec, model=None, objective="hs_testpkg.train:quadratic", space={"a": [0.2, 0.3, 0.9]},
                direction="minimize")
    spec.pop("cv_folds")
    s = run(None, parse_spec(spec), run_id="joblib-obj", progress_live=False, n_jobs=1)
    assert s.best_params == {"a": 0.3} and s.cv_score == 0.0
    assert np.isclose(s.cv_score, 0.0)
