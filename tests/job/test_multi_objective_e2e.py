"""Several objectives, constraints, conditional spaces, warm starts and multi-objective ASHA end to end on
local[2] (the session fixture), on the bundled breast-cancer data; small: few trials, two folds."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hyperspark.job.pareto import Objectives, front, parse_constraint
from hyperspark.job.protocol import parse_trials
from hyperspark.job.run import run
from hyperspark.job.spec import parse_spec

pytestmark = pytest.mark.spark

SVM_SPACE = {"C": {"loguniform": [1e-2, 1e2]},
             "kernel": {"choice": {"rbf": {"gamma": {"loguniform": [1e-4, 1e-1]}},
                                   "poly": {"degree": {"int": [2, 3]}},
                                   "linear": {}}}}
BRANCH = {"rbf": {"gamma"}, "poly": {"degree"}, "linear": set()}


def _rows(out: Path, run_id: str):
    return parse_trials((out / run_id / "trials.jsonl").read_text())


def test_multi_objective_constrained_conditional_run_and_a_warm_start(spark, base_spec):
    out = Path(base_spec["output"])
    spec = dict(base_spec, model="sklearn.svm", space=SVM_SPACE, metric=None, cv_folds=2,
                search={"type": "tpe", "trials": 8, "seed": 4, "enqueue": [{"C": 1.0, "kernel": "linear"}]},
                objectives=[{"metric": "roc_auc"}, {"metric": "predict_ms"}],
                constraints=["model_bytes <= 20000"])
    spec.pop("metric")
    s = run(spark, parse_spec(spec), run_id="mo", progress_live=False, progress_lines=False)
    rows = _rows(out, "mo")
    assert len(rows) == 8 and len({r.trial_id for r in rows}) == 8
    first = min(rows, key=lambda r: r.number)
    assert first.number == 0 and first.params == {"C": 1.0, "kernel": "linear"}  # enqueued: asked first
    for r in rows:  # only the chosen branch's params; every objective and cost measured
        assert set(r.params) == {"C", "kernel"} | BRANCH[r.params["kernel"]]
        assert r.ok and {"predict_ms", "model_bytes"} <= set(r.metrics) and r.feasible is not None
        assert r.feasible == (r.metrics["model_bytes"] <= 20000)
        assert (r.violations == {}) if r.feasible else r.violations["model_bytes <= 20000"] > 0
    obj = Objectives(("roc_auc", "predict_ms"), (True, False), "roc_auc", (parse_constraint("model_bytes <= 20000"),))
    on_front = {r.trial_id for r in front(rows, obj)}
    assert {p.trial_id for p in s.pareto} == on_front and on_front
    feasible = [r for r in rows if r.feasible]
    for r in feasible:  # brute force: on the front iff no feasible row beats it in both
        beaten = any(o.mean >= r.mean and o.metrics["predict_ms"] <= r.metrics["predict_ms"]
                     and (o.mean > r.mean or o.metrics["predict_ms"] < r.metrics["predict_ms"]) for o in feasible)
        assert (r.trial_id in on_front) == (not beaten)
    assert all(r.trial_id not in on_front for r in rows if not r.feasible)
    assert s.best.trial_id in on_front and s.select == {"metric": "roc_auc"}
    assert s.objectives == [{"metric": "roc_auc", "direction": "maximize"},
                            {"metric": "predict_ms", "direction": "minimize"}]
    # a warm start from that run: told every trial, runs none of them again
    warm = dict(spec, search={"type": "tpe", "trials": 3, "seed": 5, "warm_start": ["mo"]})
    w = run(spark, parse_spec(warm), run_id="warm", progress_live=False, progress_lines=False)
    assert w.warm_start["told"] == 8 and w.warm_start["skipped_outside_space"] == 0
    again = _rows(out, "warm")
    assert len(again) == 3 and not ({r.trial_id for r in again} & {r.trial_id for r in rows})


def test_mo_asha_records_each_trial_rung_once_and_resume_continues(spark, base_spec):
    out = Path(base_spec["output"])
    spec = parse_spec(dict(base_spec, metric=None, cv_folds=2, search={"type": "random", "trials": 9, "seed": 2},
                           space={"max_depth": {"int": [1, 8]}, "max_features": {"uniform": [0.1, 1.0]}},
                           objectives=[{"metric": "roc_auc"}, {"metric": "model_bytes"}],
                           early_stopping={"type": "asha", "resource": "n_estimators", "min": 3, "max": 27,
                                           "reduction": 3}))
    full = run(spark, spec, run_id="moasha", progress_live=False, progress_lines=False)
    rows = _rows(out, "moasha")
    assert len({r.key for r in rows}) == len(rows)
    assert len({r.trial_id for r in rows if r.rung == 0}) == 9 and any(r.rung == 2 for r in rows)
    assert all(r.decision in ("promote", "prune", "complete") for r in rows)
    assert {p.trial_id for p in full.pareto} <= {r.trial_id for r in rows if r.rung == 2}
    # interrupted after its first five results: resume runs only what is missing
    cut = out / "cut"
    cut.mkdir()
    shutil.copy(out / "moasha" / "spec.json", cut / "spec.json")
    kept = sorted(rows, key=lambda r: r.ended_at)[:5]
    (cut / "trials.jsonl").write_text("".join(r.to_line() + "\n" for r in kept))
    run(spark, spec, run_id="cut", resume=True, progress_live=False, progress_lines=False)
    resumed = _rows(out, "cut")
    assert len({r.key for r in resumed}) == len(resumed)  # every (trial, rung) exactly once
    by_key = {r.key: r for r in resumed}
    assert all(by_key[r.key].decision == r.decision and by_key[r.key].mean == r.mean for r in kept)
    assert len({r.trial_id for r in resumed if r.rung == 0}) == 9 and any(r.rung == 2 for r in resumed)
    assert (cut / "summary.json").exists()


def test_a_choice_of_model_families_picks_the_family_per_trial_and_refits_the_winner(spark, base_spec):
    out = Path(base_spec["output"])
    spec = parse_spec(dict(base_spec, cv_folds=2, search={"type": "random", "trials": 6, "seed": 1}, space={},
                           model={"choice": {"sklearn.logistic_regression": {"C": {"loguniform": [1e-2, 1e2]}},
                                             "sklearn.decision_tree": {"max_depth": [2, 3, 4]}}}))
    s = run(spark, spec, run_id="families", progress_live=False, progress_lines=False)
    rows = _rows(out, "families")
    assert len(rows) == 6 and all(r.ok for r in rows)
    assert {r.params["model"] for r in rows} == {"sklearn.logistic_regression", "sklearn.decision_tree"}
    for r in rows:
        assert set(r.params) == {"model", "C" if r.params["model"].endswith("regression") else "max_depth"}
    best = max(rows, key=lambda r: (r.mean, -r.number))
    assert s.best_params == best.params and s.model_saved
    import json

    manifest = json.loads((out / "families" / "model" / "manifest.json").read_text())
    assert manifest["model"] == best.params["model"]


def test_a_warm_start_that_does_not_exist_or_does_not_match_is_one_line(spark, base_spec):
    from hyperspark.errors import JobInputError

    out = Path(base_spec["output"])
    grid = dict(base_spec, space={"n_estimators": [5], "max_depth": [2]}, cv_folds=2)
    with pytest.raises(JobInputError) as e:
        run(spark, parse_spec(dict(grid, search={"type": "grid", "warm_start": ["nosuch"]})), run_id="w1",
            progress_live=False, progress_lines=False)
    assert str(e.value) == f"search.warm_start: no trials at {(out / 'nosuch' / 'trials.jsonl').as_uri()}"
    run(spark, parse_spec(dict(grid, model="sklearn.decision_tree", space={"max_depth": [2]})), run_id="tree",
        progress_live=False, progress_lines=False)
    with pytest.raises(JobInputError) as e:
        run(spark, parse_spec(dict(grid, search={"type": "grid", "warm_start": ["tree"]})), run_id="w2",
            progress_live=False, progress_lines=False)
    assert str(e.value) == ("search.warm_start: tree tuned sklearn.decision_tree for roc_auc; this run tunes "
                            "sklearn.random_forest for roc_auc: incompatible")
    assert not (out / "w1" / "summary.json").exists() and not (out / "w2" / "summary.json").exists()
