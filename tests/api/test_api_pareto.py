"""Several objectives through hyperspark.tune (local[2]): a conditional space with hyperspark.choice({...}),
an objective function returning several named numbers, ``Result.pareto`` and ``Result.refit``."""
from __future__ import annotations

import pytest

import hyperspark
from hyperspark.errors import JobError

pytestmark = pytest.mark.spark


def test_pareto_frame_and_refit_of_a_front_trial(spark, bc_frame, tmp_path):
    space = {"C": hyperspark.loguniform(1e-2, 1e2),
             "kernel": hyperspark.choice({"rbf": {"gamma": hyperspark.loguniform(1e-4, 1e-1)}, "linear": {}})}
    r = hyperspark.tune(model="sklearn.svm", space=space, data=bc_frame, label="target", search="tpe", trials=6,
                        objectives=[{"metric": "roc_auc"}, {"metric": "model_bytes"}], cv_folds=2, seed=2,
                        output=str(tmp_path / "runs"))
    front = r.pareto
    assert list(front.columns) == ["trial_id", "number", "roc_auc", "model_bytes", "params"] and len(front)
    assert set(front["trial_id"]) == {p.trial_id for p in r.summary.pareto}
    tid = front["trial_id"].iloc[-1]
    model = r.refit(tid)
    params = front.set_index("trial_id").loc[tid, "params"]
    assert model.get_params()["C"] == params["C"] and model.get_params()["kernel"] == params["kernel"]
    X = bc_frame.drop(columns="target").to_numpy(float)
    assert model.predict(X[:3]).shape == (3,)
    dominated = next((t for t in r.trials["trial_id"] if t not in set(front["trial_id"])), "nosuch")
    with pytest.raises(JobError, match="is not on the Pareto front"):
        r.refit(dominated)


def test_an_objective_function_returning_several_numbers(spark, bc_frame, tmp_path):
    def objective(params, data, budget, report=None):
        return {"score": -(params["x"] - 1) ** 2, "cost": params["x"] ** 2}

    r = hyperspark.tune(objective=objective, space={"x": hyperspark.uniform(-2.0, 2.0)}, data=bc_frame,
                        label="target", search="random", trials=8, output=str(tmp_path / "runs"),
                        objectives=[{"metric": "score", "direction": "maximize"},
                                    {"metric": "cost", "direction": "minimize"}],
                        constraints=["cost <= 3"])
    rows = r.trials
    assert set(rows["feasible"]) <= {True, False}
    assert all((row["metrics"]["cost"] <= 3) == row["feasible"] for _, row in rows.iterrows())
    feasible = rows[rows["feasible"]]
    on_front = set(r.pareto["trial_id"])
    best_score = feasible.loc[feasible["mean"].idxmax(), "trial_id"]
    least_cost = feasible.loc[feasible["metrics"].map(lambda m: m["cost"]).idxmin(), "trial_id"]
    assert {best_score, least_cost} <= on_front <= set(feasible["trial_id"])  # both ends, feasible only
    assert r.summary.objectives[1] == {"metric": "cost", "direction": "minimize"}
