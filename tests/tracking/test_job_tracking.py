"""The job wired to MLflow (spec ``tracking.mlflow``) against a real tracking server: one parent per
search, one child per (trial, rung), resume continues the same parent without duplicates, the model
loads back and predicts. The pipeline runs with the joblib executor (spark=None): tracking lives on the
driver and does not depend on the executor."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from hyperspark.job.run import run
from hyperspark.job.spec import parse_spec
from tests.paths import REPO

DATA = REPO / "examples" / "data" / "breast_cancer.csv"


def _runs(uri: str, experiment: str, run_id: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`hyperspark.run_id` = '{run_id}'",
                              max_results=1000)
    parents = [r for r in runs if r.data.tags.get("hyperspark.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("hyperspark.role") == "trial"]
    return parents, children


def test_search_tracked_in_mlflow_and_resume_adds_no_duplicates(mlflow_server, tmp_path):
    spec = parse_spec({
        "name": "tracked", "dataset": {"uri": str(DATA), "label": "target"}, "model": "sklearn.random_forest",
        "search": {"type": "random", "trials": 4, "seed": 1},
        "space": {"max_depth": {"int": [1, 5]}},
        "early_stopping": {"resource": "n_estimators", "min": 3, "max": 9, "reduction": 3},
        "metric": "roc_auc", "output": str(tmp_path / "out"),
        "tracking": {"mlflow": {"uri": mlflow_server, "experiment": "job-e2e"}},
    })
    s = run(None, spec, run_id="tr1", log=lambda _m: None, progress_live=False, n_jobs=2)
    info = s.tracking["mlflow"]
    assert info["ok"] is True, info
    rows_path = tmp_path / "out" / "tr1" / "trials.jsonl"
    rows = [json.loads(x) for x in rows_path.read_text().splitlines()]
    parents, children = _runs(mlflow_server, "job-e2e", "tr1")
    assert len(parents) == 1 and len(children) == len(rows)
    assert {c.data.tags["hyperspark.row"] for c in children} == {f"{r['trial_id']}:{r.get('rung', 0)}" for r in rows}
    assert parents[0].data.metrics["cv_roc_auc"] == pytest.approx(s.cv_score)

    # the driver "died" after the search: summary gone; the resume re-runs nothing and adds nothing
    (tmp_path / "out" / "tr1" / "summary.json").unlink()
    s2 = run(None, spec, run_id="tr1", resume=True, log=lambda _m: None, progress_live=False, n_jobs=2)
    parents2, children2 = _runs(mlflow_server, "job-e2e", "tr1")
    assert [p.info.run_id for p in parents2] == [parents[0].info.run_id]
    assert len(children2) == len(rows)
    assert s2.tracking["mlflow"]["parent_run_id"] == parents[0].info.run_id

    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(info["model_uri"])
    X = pd.read_csv(DATA).drop(columns="target").head(3).to_numpy(float)
    assert len(model.predict(X)) == 3


def test_unreachable_mlflow_is_one_warning_and_the_search_completes(tmp_path, capsys):
    from tests.ports import free_port

    spec = parse_spec({
        "name": "untracked", "dataset": {"uri": str(DATA), "label": "target"}, "model": "sklearn.decision_tree",
        "search": {"type": "grid"}, "space": {"max_depth": [1, 2]}, "metric": "accuracy",
        "output": str(tmp_path / "out"),
        "tracking": {"mlflow": {"uri": f"http://127.0.0.1:{free_port()}", "experiment": "nowhere"}},
    })
    s = run(None, spec, run_id="tr2", log=lambda _m: None, progress_live=False, n_jobs=1)
    assert s.search.ok == 2 and s.tracking["mlflow"]["ok"] is False
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "MLflow" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("hyperspark: warning: MLflow tracking off")
    assert json.loads((tmp_path / "out" / "tr2" / "summary.json").read_text())["tracking"]["mlflow"]["ok"] is False
