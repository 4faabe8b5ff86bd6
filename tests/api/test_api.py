"""hyperspark.tune inside an already-running SparkSession (local[2]): pandas and Spark DataFrames, objects,
objectives, the session left as it was, and bad input as one-line SpecError/JobError."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import hyperspark
from hyperspark.job.spec import parse_spec

pytestmark = pytest.mark.spark


def _jsonl_frame(result) -> pd.DataFrame:
    path = Path(result.output_uri.removeprefix("file://")) / "trials.jsonl"
    return pd.DataFrame([json.loads(x) for x in path.read_text().splitlines() if x.strip()])


def _confs(spark) -> dict:
    return dict(spark.conf.getAll)


def test_tune_a_pandas_dataframe(spark, bc_frame, tmp_path, capsys):
    before = _confs(spark)
    spark.sparkContext.setLocalProperty("spark.job.description", "the user's own")
    r = hyperspark.tune(model="sklearn.random_forest",
                        space={"n_estimators": hyperspark.randint(5, 30), "max_depth": [2, 4, None],
                               "max_features": hyperspark.uniform(0.3, 1.0)},
                        data=bc_frame, label="target", search="tpe", trials=6, metric="roc_auc",
                        output=str(tmp_path / "runs"), seed=3)
    # the Result is the run: best = summary, trials = trials.jsonl, a refit model
    assert r.best_params == r.summary.best_params and r.best_score == r.summary.cv_score
    assert r.best_score == r.trials["mean"].max() and len(r.trials) == 6
    pd.testing.assert_frame_equal(r.trials, _jsonl_frame(r))
    assert r.best_model.get_params()["max_depth"] == r.best_params["max_depth"]
    X = bc_frame.drop(columns="target").to_numpy(float)
    assert r.best_model.predict(X[:5]).shape == (5,)
    assert set(r.test_metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert r.summary.data.input == "memory" and r.summary.data.rows == 569
    assert r.summary.cluster.task_cpus == 1
    # the same validated spec as a YAML file
    assert parse_spec(yaml.safe_load(r.spec_yaml())) == r.spec
    assert yaml.safe_load(r.spec_yaml())["space"]["n_estimators"] == {"int": [5, 30]}
    # quiet in scripts, and the session is the user's again
    assert "HYPERSPARK_PROGRESS" not in capsys.readouterr().out
    assert _confs(spark) == before
    assert spark.sparkContext.getLocalProperty("spark.job.description") == "the user's own"
    assert spark.range(10).selectExpr("sum(id)").first()[0] == 45


def test_tune_a_large_spark_dataframe_goes_through_parquet_once(spark, bc_frame, tmp_path, testpkg):
    from hs_testpkg.models import ShrunkCentroids

    sdf = spark.createDataFrame(bc_frame)
    before = _confs(spark)
    common = dict(estimator=ShrunkCentroids(power=2.0), space={"shrink": [0.0, 0.5]}, label="target",
                  search="grid", metric="accuracy", output=str(tmp_path / "runs"), seed=3)
    big = hyperspark.tune(data=sdf, collect_limit_bytes=1, **common)
    assert big.summary.data.input == "parquet"
    parquet = Path(big.output_uri.removeprefix("file://")) / "input.parquet"
    assert parquet.is_dir() and list(parquet.glob("*.parquet"))
    assert big.spec.dataset.uri == parquet.as_uri() and big.spec.dataset.format == "parquet"
    small = hyperspark.tune(data=sdf, **common)  # under the default threshold: collected once
    assert small.summary.data.input == "collected"
    assert not (Path(small.output_uri.removeprefix("file://")) / "input.parquet").exists()
    # both read the same rows: same folds, same scores
    assert big.summary.data.hash == small.summary.data.hash
    assert big.best_params == small.best_params and big.best_score == small.best_score
    assert big.summary.model.startswith("object:estimator.ShrunkCentroids-")
    assert _confs(spark) == before and spark.range(3).count() == 3


def test_objective_function_object_with_report(spark, bc_frame, tmp_path):
    def objective(params, data, budget, report=None):  # defined here: shipped by value (cloudpickle)
        for epoch in range(1, budget + 1):
            report(epoch, params["lr"] * epoch)
        return {"score": params["lr"] * budget, "n": len(data.y)}

    r = hyperspark.tune(objective=objective, space={"lr": [0.1, 0.2, 0.3]}, data=bc_frame,
                        label="target", search="grid", output=str(tmp_path / "runs"),
                        early_stopping={"type": "asha", "resource": "epochs", "min": 1, "max": 3, "reduction": 3})
    assert r.best_model is None and r.test_metrics == {} and r.summary.kind == "objective"
    assert r.best_params == {"lr": 0.3, "epochs": 3} and r.best_score == pytest.approx(0.9)
    assert set(r.trials["rung"]) == {0, 1} and r.trials["intermediate"].map(len).max() == 3


def test_bad_input_raises_one_line(spark, bc_frame, tmp_path):
    out = str(tmp_path / "runs")
    with pytest.raises(hyperspark.SpecError) as e:
        hyperspark.tune(model="nosuchpkg.models:Model", space={"a": [1]}, data=bc_frame, label="target",
                        search="grid", output=out)
    assert str(e.value) == ("invalid spec: model: cannot import 'nosuchpkg.models:Model': no module named "
                            "'nosuchpkg' (install it, or ship it with --py-files or --package)")
    assert e.value.__cause__ is None and e.value.__suppress_context__

    class Plain:
        def fit(self, X, y):
            return self

    with pytest.raises(hyperspark.SpecError) as e:
        hyperspark.tune(estimator=Plain(), space={"a": [1]}, data=bc_frame, label="target", search="grid",
                        output=out)
    assert str(e.value) == ("invalid spec: estimator: a Plain object is not a scikit-learn estimator "
                            "(it needs fit, get_params and set_params)")
    with pytest.raises(hyperspark.SpecError, match="give exactly one of model=, estimator= or objective="):
        hyperspark.tune(space={"a": [1]}, data=bc_frame, label="target")
    with pytest.raises(hyperspark.SpecError, match=r"threads_per_trial: the session runs 1 core\(s\) per task"):
        hyperspark.tune(model="sklearn.ridge", space={"alpha": [1.0]}, data=bc_frame, label="target",
                        search="grid", output=out, threads_per_trial=2)

    def not_a_number(params, data, budget):
        return "nope"

    with pytest.raises(hyperspark.JobError) as e:
        hyperspark.tune(objective=not_a_number, space={"a": [1, 2]}, data=bc_frame, label="target",
                        search="grid", output=out, run_id="nan")
    assert str(e.value) == ("every trial failed; first error: ValueError: objective returned str 'nope'; "
                            "expected a number or a dict with a numeric 'score'")
    assert not (tmp_path / "runs" / "nan" / "summary.json").exists()
    assert spark.range(3).count() == 3


def test_a_local_module_ships_by_value_and_an_import_path_executors_lack_is_one_line(spark, bc_frame, tmp_path,
                                                                                       monkeypatch):
    pkg = tmp_path / "src" / "api_driver_only"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n\n"
        "class Mine(LogisticRegression):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    from api_driver_only import Mine

    common = dict(space={"C": [0.1, 1.0]}, data=bc_frame, label="target", search="grid",
                  output=str(tmp_path / "runs"))
    # an object whose module is local and not installed (executors cannot import it): shipped by value
    r = hyperspark.tune(estimator=Mine(max_iter=50), **common)
    assert r.summary.search.ok == 2 and r.summary.model.startswith("object:estimator.Mine-")
    # an import path is imported by the executors: the pre-search check says in one line that they cannot
    with pytest.raises(hyperspark.JobError) as e:
        hyperspark.tune(model="api_driver_only:Mine", run_id="noimp", **common)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("executor driver (")
    assert "cannot import 'api_driver_only' for the trials: its Python " in msg
    assert msg.endswith("; ship it with py_files=[...] (addPyFile), or install it where the executors run")
    assert not (tmp_path / "runs" / "noimp").exists()
    # shipped, the import path tunes too
    r = hyperspark.tune(model="api_driver_only:Mine", py_files=[str(pkg)], **common)
    assert r.summary.search.ok == 2


def test_mllib_model_from_a_pandas_frame_leaves_nothing_cached(spark, bc_frame, tmp_path):
    cached = spark.sparkContext._jsc.getPersistentRDDs().size()
    r = hyperspark.tune(model="mllib.logistic_regression", space={"regParam": [0.0, 0.1]}, data=bc_frame,
                        label="target", search="grid", metric="f1", cv_folds=2, output=str(tmp_path / "runs"))
    assert r.summary.strategy == "mllib" and r.summary.data.input == "memory" and r.best_model is not None
    assert r.best_params["regParam"] in (0.0, 0.1) and len(r.trials) == 2
    assert spark.sparkContext._jsc.getPersistentRDDs().size() == cached


def test_objective_by_import_path_reads_its_own_uri(spark, tmp_path, testpkg):
    r = hyperspark.tune(objective="hs_testpkg.train:reads_uri", space={"k": [1, 3, 2]}, data="hdfs://nn:8020/imgs",
                        search="grid", output=str(tmp_path / "runs"))
    assert r.spec.dataset.load == "none" and r.summary.data.input == "uri"
    assert r.best_params == {"k": 3} and r.best_score == 4.0 and r.best_model is None
    assert yaml.safe_load(r.spec_yaml())["objective"] == "hs_testpkg.train:reads_uri"
