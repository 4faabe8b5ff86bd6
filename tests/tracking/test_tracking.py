"""MlflowTracker against a REAL ``mlflow server`` (see conftest), queried back with the MLflow client."""
from __future__ import annotations

import socket
import time
import uuid

import numpy as np
import pytest

from hyperspark.job.protocol import RunSummary, TrialResult
from hyperspark.job.tracking import ROW_TAG, RUN_TAG, MlflowTracker

pytest.importorskip("mlflow", reason="mlflow is not installed (pip install -e .[tracking] or .[dev])")

T0 = 1_790_000_000.0
SPEC = {"name": "bc", "model": "sklearn.random_forest", "search": {"type": "grid"},
        "space": {"n_estimators": [5, 10], "max_depth": [2, 3, None]}, "metric": "roc_auc", "cv_folds": 3}


def rows(n: int, start: int = 0, rung: int = 0, budget: int | None = None) -> list[TrialResult]:
    out = []
    for i in range(start, start + n):
        folds = [0.9 + i / 1000, 0.91 + i / 1000, 0.92 + i / 1000]
        out.append(TrialResult(
            trial_id=f"t{i:04d}", number=i, params={"n_estimators": 5 + i, "max_depth": [2, 3, None][i % 3]},
            status="ok" if i % 7 else "error", fold_scores=folds if i % 7 else [],
            mean=float(np.mean(folds)) if i % 7 else None, std=float(np.std(folds)) if i % 7 else None,
            error=None if i % 7 else "ValueError: boom", executor_id=str(i % 2), host="127.0.0.1",
            slot=f"127.0.0.1/{i % 2}", started_at=T0 + i, ended_at=T0 + i + 0.5, fit_seconds=0.5,
            rung=rung, budget=budget))
    return out


def summary(run_id: str, best: TrialResult) -> RunSummary:
    return RunSummary.model_validate({
        "run_id": run_id, "name": "bc", "output_uri": f"file:///tmp/runs/{run_id}", "model": "sklearn.random_forest",
        "task": "classification", "strategy": "trials", "metric": "roc_auc",
        "search": {"type": "grid", "trials": 6, "ok": 5, "failed": 1},
        "best": {"trial_id": best.trial_id, "params": best.params, "cv_score": best.mean, "cv_std": best.std},
        "best_params": best.params, "cv_score": best.mean, "test_metrics": {"roc_auc": 0.98, "accuracy": 0.95},
        "data": {"uri": "file:///tmp/bc.csv", "hash": "sha256:abc123"},
        "cluster": {"master": "local[2]", "app_id": "app-1"},
        "cost": {"busy_core_seconds": 12.5, "available_core_seconds": 20.0, "idle_slot_fraction": 0.375},
        "timings": {"search": 10.0, "total": 15.0}, "finished_at": T0 + 100})


@pytest.fixture(scope="module")
def fitted():
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_breast_cancer(return_X_y=True)
    model = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y)
    return model, X


def client_for(url: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url)


def runs_of(url: str, experiment: str, run_id: str) -> tuple[list, list]:
    c = client_for(url)
    exp = c.get_experiment_by_name(experiment)
    every = c.search_runs([exp.experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{run_id}'", max_results=5000)
    parents = [r for r in every if r.data.tags.get("hyperspark.role") == "parent"]
    children = [r for r in every if r.data.tags.get("hyperspark.role") == "trial"]
    return parents, children


def test_parent_children_model_and_resume(mlflow_server: str, fitted, capsys) -> None:
    import mlflow.pyfunc

    model, X = fitted
    exp, run_id = f"exp-{uuid.uuid4().hex[:8]}", "bc-run-1"
    first = rows(12)
    t = MlflowTracker(mlflow_server, exp, run_id, SPEC, {"hyperspark.cluster": "local[2]"})
    t.start()
    t.log_trials(first[:5])
    t.log_trials(first[5:])
    t.log_trials(first[:3])  # the same rows again: no second child
    best = max((r for r in first if r.ok), key=lambda r: r.mean)
    info = t.finish(summary(run_id, best), model=model, X_sample=X[:5])
    assert info["ok"] is True, info
    assert info["children"] == 12 and info["resumed"] is False and info["flavor"] == "sklearn"

    parents, children = runs_of(mlflow_server, exp, run_id)
    assert len(parents) == 1 and len(children) == 12
    parent = parents[0]
    assert parent.info.run_id == info["parent_run_id"] and parent.info.status == "FINISHED"
    assert parent.data.params["space.max_depth"] == "[2, 3, null]" and parent.data.params["cv_folds"] == "3"
    assert parent.data.metrics["cv_roc_auc"] == best.mean and parent.data.metrics["test_accuracy"] == 0.95
    assert parent.data.metrics["busy_core_seconds"] == 12.5
    assert parent.data.tags["hyperspark.data_hash"] == "sha256:abc123"
    assert parent.data.tags["hyperspark.cluster"] == "local[2]"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    c3 = next(c for c in children if c.data.tags[ROW_TAG] == "t0003:0")
    assert c3.data.params == {"n_estimators": "8", "max_depth": "2"}
    assert c3.data.metrics["mean"] == first[3].mean and c3.data.metrics["fold_2"] == first[3].fold_scores[2]
    assert c3.data.metrics["fit_seconds"] == 0.5 and c3.data.metrics["rung"] == 0
    assert c3.data.tags["hyperspark.executor_id"] == "1" and c3.info.status == "FINISHED"
    history = client_for(mlflow_server).get_metric_history(c3.info.run_id, "fold_score")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == first[3].fold_scores
    c0 = next(c for c in children if c.data.tags[ROW_TAG] == "t0000:0")
    assert c0.info.status == "FAILED" and c0.data.tags["hyperspark.error"] == "ValueError: boom"

    loaded = mlflow.pyfunc.load_model(info["model_uri"])
    np.testing.assert_array_equal(loaded.predict(X[:20]), model.predict(X[:20]))
    assert loaded.metadata.signature is not None

    # resume: a second tracker for the same run id finds the parent and adds only the new rows
    t2 = MlflowTracker(mlflow_server, exp, run_id, SPEC, {"hyperspark.cluster": "local[2]"}, senders=3)
    t2.start()
    assert t2.parent_run_id == parent.info.run_id and t2.resumed
    t2.log_trials(first + rows(3, start=12) + rows(2, start=0, rung=1, budget=30))
    info2 = t2.finish(summary(run_id, best))
    assert info2["ok"] is True and info2["children"] == 17
    parents, children = runs_of(mlflow_server, exp, run_id)
    assert len(parents) == 1 and len(children) == 17
    keys = [c.data.tags[ROW_TAG] for c in children]
    assert len(set(keys)) == 17 and "t0001:1" in keys
    r1 = next(c for c in children if c.data.tags[ROW_TAG] == "t0001:1")
    assert r1.data.metrics["budget"] == 30 and r1.data.params["budget"] == "30"
    assert "warning" not in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_unreachable_server_is_one_warning_and_no_exception(capsys) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    t0 = time.monotonic()
    t = MlflowTracker(url, "exp", "run-x", SPEC, {})
    t.start()
    t.log_trials(rows(3))
    info = t.finish(summary("run-x", rows(2)[1]), model=object(), X_sample=None)
    assert time.monotonic() - t0 < 15
    assert info["ok"] is False and "no MLflow server answers" in info["error"]
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith(f"hyperspark: warning: MLflow tracking off ({url}): start: ")


def test_server_stopped_mid_run_turns_tracking_off(tmp_path, capsys) -> None:
    """A second real server, stopped (by pid) after the first rows: one warning, no exception, and
    finish says tracking failed; the caller never waits on it."""
    from tests.tracking.conftest import _stop, running_server

    with running_server(tmp_path) as (url, proc):
        t = MlflowTracker(url, "exp-gone", "run-gone", SPEC, {})
        t.start()
        t.log_trials(rows(3))
        assert t.flush(120) and t.ok
        _stop(proc)
        t0 = time.monotonic()
        t.log_trials(rows(5, start=3))
        t.log_trials(rows(5, start=8))
        caller = time.monotonic() - t0
        info = t.finish(summary("run-gone", rows(2)[1]))
    assert caller < 0.5
    assert info["ok"] is False and info["error"].startswith("logging trials: "), info
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith(f"hyperspark: warning: MLflow tracking off ({url}): logging trials: ")


def test_logging_overhead_300_rows(mlflow_server: str, capsys) -> None:
    """The caller's cost of log_trials for 300 rows (one call per row, as rows land) vs no tracking."""
    batch = rows(300)

    def caller(log) -> float:
        t0 = time.perf_counter()
        for r in batch:
            log([r])
        return time.perf_counter() - t0

    baseline = caller(lambda rs: None)
    t = MlflowTracker(mlflow_server, f"exp-{uuid.uuid4().hex[:8]}", "run-300", SPEC, {})
    t.start()
    tracked = caller(t.log_trials)
    t0 = time.perf_counter()
    info = t.finish(summary("run-300", next(r for r in batch if r.ok)))
    background = time.perf_counter() - t0
    assert info["ok"] is True and info["children"] == 300
    with capsys.disabled():
        print(f"\nMLflow overhead, 300 rows: caller {tracked * 1000:.1f} ms with tracking vs "
              f"{baseline * 1000:.2f} ms without ({tracked / 300 * 1e6:.0f} us/row); background logging "
              f"finished {background:.1f} s after the last call")
    assert tracked < 1.0  # queueing only: well under a millisecond a row
