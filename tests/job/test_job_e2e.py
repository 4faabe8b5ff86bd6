"""End-to-end runs of the job on local[2], on the bundled breast cancer data set."""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from hyperspark.errors import JobInputError
from hyperspark.job.run import run
from hyperspark.job.spec import parse_spec

from .conftest import BREAST_CANCER

pytestmark = pytest.mark.spark


def _out(spec) -> Path:
    return Path(spec.output.removeprefix("file://"))


def _trials(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_sklearn_grid_matches_gridsearchcv(spark, base_spec):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

    spec = parse_spec(base_spec)
    summary = run(spark, spec, run_id="gs", progress_live=False)

    df = pd.read_csv(BREAST_CANCER)
    X, y = df.drop(columns="target").to_numpy(float), df["target"].to_numpy()
    X_tr, _X_te, y_tr, _y_te = train_test_split(X, y, test_size=0.2, random_state=3, stratify=y)
    gs = GridSearchCV(RandomForestClassifier(random_state=3, n_jobs=1), base_spec["space"], scoring="roc_auc",
                      cv=StratifiedKFold(3, shuffle=True, random_state=3)).fit(X_tr, y_tr)
    assert summary.best_params == gs.best_params_
    assert summary.cv_score == pytest.approx(gs.best_score_, abs=1e-12)
    # every trial's fold scores equal GridSearchCV's split scores, not just the winner's
    rows = {json.dumps(r["params"], sort_keys=True): r for r in _trials(_out(spec) / "gs" / "trials.jsonl")}
    for i, params in enumerate(gs.cv_results_["params"]):
        row = rows[json.dumps(params, sort_keys=True)]
        expect = [gs.cv_results_[f"split{k}_test_score"][i] for k in range(3)]
        assert row["fold_scores"] == pytest.approx(expect, abs=1e-12)


def test_summary_trials_and_model_are_complete(spark, base_spec):
    spec = parse_spec(base_spec)
    s = run(spark, spec, run_id="full", progress_live=False)
    run_dir = _out(spec) / "full"
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["best_params"] == s.best_params
    assert set(on_disk["test_metrics"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert all(0.8 <= v <= 1.0 for v in on_disk["test_metrics"].values()), on_disk["test_metrics"]
    assert {"load", "warmup", "search", "refit", "write"} <= set(on_disk["timings"])
    assert on_disk["data"]["rows"] == 569 and on_disk["data"]["test_rows"] == 114
    assert on_disk["data"]["hash"].startswith("sha256:")
    assert {"pyspark", "sklearn", "numpy", "python", "java"} <= set(on_disk["versions"])
    rows = _trials(run_dir / "trials.jsonl")
    assert len(rows) == 4 and len({r["trial_id"] for r in rows}) == 4
    for r in rows:
        assert r["status"] == "ok" and len(r["fold_scores"]) == 3
        assert r["mean"] == pytest.approx(np.mean(r["fold_scores"]))
        assert r["ended_at"] >= r["started_at"] and r["fit_seconds"] > 0 and r["executor_id"] and r["host"]
    model = joblib.load(run_dir / "model" / "model.joblib")
    assert model.get_params()["n_estimators"] == s.best_params["n_estimators"]
    manifest = json.loads((run_dir / "model" / "manifest.json").read_text())
    assert manifest["params"] == s.best_params and manifest["data_hash"] == on_disk["data"]["hash"]
    assert not [p.name for p in run_dir.iterdir() if "tmp" in p.name]  # nothing half-written left behind


def test_resume_runs_only_missing_trials(spark, base_spec):
    spec = parse_spec(base_spec)
    run(spark, spec, run_id="r", progress_live=False)
    run_dir = _out(spec) / "r"
    rows = _trials(run_dir / "trials.jsonl")
    kept = rows[:2]
    (run_dir / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    (run_dir / "summary.json").unlink()  # as if the driver died mid-search
    s = run(spark, spec, run_id="r", progress_live=False)
    assert s.search.resumed == 2 and s.search.ran == 2 and s.search.trials == 4
    after = _trials(run_dir / "trials.jsonl")
    assert len(after) == 4 and len({r["trial_id"] for r in after}) == 4
    for r in kept:  # the recorded trials were not run again
        again = next(a for a in after if a["trial_id"] == r["trial_id"])
        assert again["started_at"] == r["started_at"]


def test_resume_refuses_a_different_spec(spark, base_spec):
    run(spark, parse_spec(base_spec), run_id="x", progress_live=False)
    other = dict(base_spec, space={"n_estimators": [5]})
    with pytest.raises(JobInputError, match="different spec"):
        run(spark, parse_spec(other), run_id="x", progress_live=False)


def test_replicate_gives_identical_scores_and_ships_more(spark, base_spec):
    a = run(spark, parse_spec(base_spec), run_id="b", progress_live=False)
    b = run(spark, parse_spec(dict(base_spec, data_shipping="replicate")), run_id="rep", progress_live=False)
    out = Path(base_spec["output"])
    fa = {r["trial_id"]: r["fold_scores"] for r in _trials(out / "b" / "trials.jsonl")}
    fb = {r["trial_id"]: r["fold_scores"] for r in _trials(out / "rep" / "trials.jsonl")}
    assert fa.keys() == fb.keys()
    for k in fa:
        assert fa[k] == pytest.approx(fb[k], abs=1e-12)
    assert a.best_params == b.best_params
    assert b.shipping["copies"] == 4  # one copy per trial
    assert a.shipping["copies"] <= 2  # one per executor (local[N]: the driver's own)
    assert b.shipping["bytes_shipped"] > a.shipping["bytes_shipped"]


def test_model_errors_are_recorded_once_not_retried(spark, base_spec):
    spec = parse_spec(dict(base_spec, space={"max_depth": [2, -5]}))
    s = run(spark, spec, run_id="err", progress_live=False)
    rows = _trials(Path(base_spec["output"]) / "err" / "trials.jsonl")
    bad = [r for r in rows if r["status"] == "error"]
    assert len(rows) == 2 and len(bad) == 1 and "max_depth" in bad[0]["error"]
    assert s.best_params == {"max_depth": 2} and s.search.failed == 1


def test_mllib_cross_validation(spark, base_spec):
    spec = parse_spec(dict(base_spec, model="mllib.logistic_regression", metric="f1", cv_folds=2,
                           space={"regParam": [0.0, 0.5], "maxIter": [20]}))
    s = run(spark, spec, run_id="ml", progress_live=False)
    assert s.strategy == "mllib" and s.best_params["regParam"] in (0.0, 0.5)
    assert set(s.test_metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert all(0.5 <= v <= 1.0 for v in s.test_metrics.values())
    rows = _trials(Path(base_spec["output"]) / "ml" / "trials.jsonl")
    assert len(rows) == 2 and all(len(r["fold_scores"]) == 2 for r in rows)
    assert (Path(base_spec["output"]) / "ml" / "model" / "spark" / "metadata").is_dir()


# ------------------------------------------------------------------ bad data: one line, nothing written
def _csv(tmp_path, text: str) -> str:
    p = tmp_path / "d.csv"
    p.write_text(text)
    return str(p)


GOOD_ROWS = "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(30))


@pytest.mark.parametrize(
    "content,label,needle",
    [
        (None, "y", "dataset not found"),
        ("a,b,y\n" + GOOD_ROWS, "zz", "label column 'zz' not found; columns: a, b, y"),
        ("a,b,y\n" + "".join(f"{i},x{i},{i % 2}\n" for i in range(20)), "y", None),  # b is skipped (string)
        ("a,b,y\n1,,0\n" + GOOD_ROWS + "2,NaN,1\n", "y", "2 of 32 rows have missing values"),
        ("a,b,y\n", "y", "dataset: no rows"),
        ("a,b,y\n" + "".join(f"{i},{i},1\n" for i in range(20)), "y", "has only one class (1)"),
    ],
)
def test_bad_data_one_line(spark, tmp_path, base_spec, content, label, needle):
    uri = str(tmp_path / "missing.csv") if content is None else _csv(tmp_path, content)
    spec = parse_spec(dict(base_spec, dataset={"uri": uri, "label": label}, space={"n_estimators": [5]},
                           metric="accuracy", cv_folds=2))
    if needle is None:  # a string column is simply not a default feature
        s = run(spark, spec, run_id="ok", progress_live=False)
        assert s.data.features == ["a"]
        return
    with pytest.raises(JobInputError) as e:
        run(spark, spec, run_id="bad", progress_live=False)
    assert needle in str(e.value) and "\n" not in str(e.value)
    assert not (Path(base_spec["output"]) / "bad" / "summary.json").exists()


def test_explicit_non_numeric_feature_and_nan_drop(spark, tmp_path, base_spec):
    uri = _csv(tmp_path, "a,b,y\n" + "".join(f"{i},x{i},{i % 2}\n" for i in range(20)))
    spec = parse_spec(dict(base_spec, dataset={"uri": uri, "label": "y", "features": ["a", "b"]}))
    with pytest.raises(JobInputError, match=r"non-numeric feature column\(s\): b \(string\)"):
        run(spark, spec, run_id="nn", progress_live=False)
    uri = _csv(tmp_path, "a,b,y\n1,,0\n" + GOOD_ROWS)
    spec = parse_spec(dict(base_spec, dataset={"uri": uri, "label": "y", "nan_policy": "drop"},
                           space={"n_estimators": [5]}, metric="accuracy", cv_folds=2))
    s = run(spark, spec, run_id="drop", progress_live=False)
    assert s.data.dropped_rows == 1 and s.data.rows == 30


@pytest.mark.parametrize("model,space", [
    ("xgboost.xgboost", {"max_depth": [2, 3], "n_estimators": [20]}),
    ("lightgbm.lightgbm", {"num_leaves": [4, 8], "n_estimators": [20]}),
])
def test_boosting_libraries(spark, base_spec, model, space):
    pytest.importorskip(model.split(".")[0], reason=f"{model.split('.')[0]} is not installed (optional extra)")
    s = run(spark, parse_spec(dict(base_spec, model=model, space=space)), run_id=model, progress_live=False)
    assert s.search.ok == 2 and s.test_metrics["roc_auc"] > 0.9


def test_random_search_regression_minimises_rmse(spark, tmp_path, base_spec):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = 3 * X[:, 0] - 2 * X[:, 1] + rng.normal(scale=0.1, size=300)
    p = tmp_path / "reg.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}).to_csv(p, index=False)
    spec = parse_spec(dict(base_spec, dataset={"uri": str(p), "label": "y"}, model="sklearn.ridge",
                           search={"type": "random", "trials": 6, "seed": 1}, metric=None,
                           space={"alpha": {"loguniform": [1e-3, 1e3]}}))
    s = run(spark, spec, run_id="reg", progress_live=False)
    assert s.task == "regression" and s.metric == "rmse" and not s.greater_is_better
    rows = _trials(Path(base_spec["output"]) / "reg" / "trials.jsonl")
    assert s.cv_score == min(r["mean"] for r in rows)  # lower is better for rmse
    assert set(s.test_metrics) == {"rmse", "mae", "r2"} and s.test_metrics["r2"] > 0.95


@pytest.mark.parametrize("content,label,needle", [
    ("a,b,y\n" + GOOD_ROWS, "zz", "label column 'zz' not found; columns: a, b, y"),
    ("a,b,y\n1,,0\n" + GOOD_ROWS, "y", "1 of 31 rows have missing values"),
    ("a,b,y\n" + "".join(f"{i},{i},1\n" for i in range(20)), "y", "has only one class (1)"),
    ("a,b,y\n", "y", "dataset: no rows"),
])
def test_bad_data_spark_back_end(spark, tmp_path, base_spec, content, label, needle):
    """MLlib models validate in Spark: the same one-line messages as the in-driver back end."""
    spec = parse_spec(dict(base_spec, dataset={"uri": _csv(tmp_path, content), "label": label}, cv_folds=2,
                           model="mllib.logistic_regression", space={"regParam": [0.1]}, metric="accuracy"))
    with pytest.raises(JobInputError) as e:
        run(spark, spec, run_id="bad", progress_live=False)
    assert needle in str(e.value) and "\n" not in str(e.value)
