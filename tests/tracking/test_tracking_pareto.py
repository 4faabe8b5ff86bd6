"""MLflow and several objectives (issue 21), against a real tracking server: every child run says whether
its trial met the constraints (``hyperspark.feasible``, the broken ones in ``hyperspark.violations``), and
when the search ends exactly the Pareto front's child runs carry ``hyperspark.pareto = true`` with their
objectives. The pipeline runs with the joblib executor (spark=None): tracking lives on the driver."""
from __future__ import annotations

import json

import pytest

from hyperspark.job.run import run
from hyperspark.job.spec import parse_spec
from tests.paths import REPO

DATA = REPO / "examples" / "data" / "breast_cancer.csv"


def test_the_front_s_child_runs_are_tagged_and_every_run_says_feasible(mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    spec = parse_spec({
        "name": "mo-tracked", "dataset": {"uri": str(DATA), "label": "target"}, "model": "sklearn.decision_tree",
        "search": {"type": "grid"}, "space": {"max_depth": [1, 2, 3, 5, 8]}, "cv_folds": 2,
        # deeper trees are bigger: some configurations break the size constraint
        "objectives": [{"metric": "roc_auc"}, {"metric": "model_bytes"}], "constraints": ["model_bytes <= 2500"],
        "output": str(tmp_path / "out"), "tracking": {"mlflow": {"uri": mlflow_server, "experiment": "mo-e2e"}},
    })
    s = run(None, spec, run_id="mo1", log=lambda _m: None, progress_live=False, progress_lines=False, n_jobs=2)
    assert s.tracking["mlflow"]["ok"] is True, s.tracking
    rows = [json.loads(x) for x in (tmp_path / "out" / "mo1" / "trials.jsonl").read_text().splitlines()]
    infeasible = {r["trial_id"] for r in rows if r["feasible"] is False}
    on_front = {p.trial_id for p in s.pareto}
    assert infeasible and on_front and len(on_front | infeasible) < len(rows)  # all three kinds present

    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("mo-e2e")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`hyperspark.run_id` = 'mo1'", max_results=100)
    children = {r.data.tags["hyperspark.trial_id"]: r for r in runs if r.data.tags["hyperspark.role"] == "trial"}
    assert set(children) == {r["trial_id"] for r in rows}
    assert {t for t, c in children.items() if c.data.tags.get("hyperspark.pareto") == "true"} == on_front
    assert {t for t, c in children.items() if c.data.tags["hyperspark.feasible"] == "false"} == infeasible
    for t in infeasible:
        assert json.loads(children[t].data.tags["hyperspark.violations"])["model_bytes <= 2500"] > 0
    for p in s.pareto:
        tags = children[p.trial_id].data.tags
        assert float(tags["hyperspark.objective.roc_auc"]) == pytest.approx(p.values["roc_auc"])
        assert float(tags["hyperspark.objective.model_bytes"]) == pytest.approx(p.values["model_bytes"])
    parent = next(r for r in runs if r.data.tags["hyperspark.role"] == "parent")
    assert parent.data.tags["hyperspark.pareto_size"] == str(len(on_front))
    assert parent.data.tags["hyperspark.objectives"] == "roc_auc,model_bytes"
    assert s.tracking["mlflow"]["pareto_tagged"] == len(on_front)
