"""One strategy per kind of trial: the registry picks it from the spec, the strategy picks the executor,
and the pipeline (run.run) is the same for every kind. Runs the real pipeline without Spark (the joblib
executor, the bench's one-process baseline) and the transport choice on the real local[2] session."""
from __future__ import annotations

import json

import pytest

from hyperspark.errors import JobInputError, SpecError
from hyperspark.job.protocol import parse_trials, pick_best
from hyperspark.job.run import run
from hyperspark.job.spec import parse_spec
from hyperspark.job.strategies.base import TRANSPORTS, choose_transport
from hyperspark.job.strategies.estimator import EstimatorStrategy
from hyperspark.job.strategies.mllib import MLlibStrategy
from hyperspark.job.strategies.objective import ObjectiveStrategy
from hyperspark.job.strategies.registry import STRATEGIES, strategy_for


def _mllib(base_spec: dict) -> dict:
    return dict(base_spec, model="mllib.random_forest", space={"numTrees": [5, 10], "maxDepth": [2, 3]})


def test_the_registry_maps_every_kind_of_trial_to_its_strategy(base_spec, testpkg):
    objective = dict(base_spec, model=None, objective="hs_testpkg.train:quadratic", space={"a": [0.1, 0.3]},
                     direction="minimize")
    objective.pop("cv_folds")
    objective.pop("metric")
    assert isinstance(strategy_for(parse_spec(base_spec)), EstimatorStrategy)
    assert isinstance(strategy_for(parse_spec(_mllib(base_spec))), MLlibStrategy)
    assert isinstance(strategy_for(parse_spec(objective)), ObjectiveStrategy)
    assert set(STRATEGIES) == {"trials", "mllib", "objective"}


def test_a_search_without_spark_runs_the_same_pipeline_on_joblib(base_spec, tmp_path):
    spec = parse_spec(base_spec)
    artifacts: dict = {}
    summary = run(None, spec, "nospark", n_jobs=2, artifacts=artifacts, progress_lines=False)
    assert summary.strategy == "trials"
    assert summary.shipping["transport"] == "joblib" and summary.cluster.master == "joblib[2]"
    rows = parse_trials((tmp_path / "out" / "nospark" / "trials.jsonl").read_text())
    assert len(rows) == 4 and all(r.ok for r in rows)  # the 2 x 2 grid, each once
    best = pick_best(rows, greater_is_better=True)
    assert summary.best.trial_id == best.trial_id and summary.best_params == best.params
    assert set(summary.test_metrics) >= {"roc_auc", "accuracy"}
    manifest = json.loads((tmp_path / "out" / "nospark" / "model" / "manifest.json").read_text())
    assert manifest["format"] == "joblib" and manifest["params"] == summary.best_params
    assert artifacts["estimator"] is not None


def test_mllib_without_spark_is_one_line_before_any_work(base_spec, tmp_path):
    with pytest.raises(JobInputError, match=r"^model mllib.random_forest needs Spark \(MLlib\)"):
        run(None, parse_spec(_mllib(base_spec)), "nospark-mllib")
    assert not (tmp_path / "out" / "nospark-mllib").exists()


def test_a_bad_run_id_is_one_line_from_every_entry_point(base_spec, tmp_path):
    import hyperspark

    with pytest.raises(SpecError, match=r"^run id '\.\./x': use letters, digits"):
        run(None, parse_spec(base_spec), "../x", n_jobs=1)
    with pytest.raises(hyperspark.SpecError, match=r"^invalid run_id: run id 'a b'"):
        hyperspark.tune("sklearn.random_forest", space={"n_estimators": [5]}, data=str(tmp_path / "none.csv"),
                        label="target", search="grid", run_id="a b")
    assert not (tmp_path / "out").exists()


@pytest.mark.spark
def test_the_strategy_chooses_the_transport_from_the_spec(spark, base_spec):
    notes: list[str] = []
    assert choose_transport(None, parse_spec(base_spec)) == "joblib"
    assert choose_transport(spark, parse_spec(base_spec), notes.append) == "pull"
    assert choose_transport(spark, parse_spec(dict(base_spec, trial_tasks="per_trial"))) == "per_trial"
    assert choose_transport(spark, parse_spec(dict(base_spec, data_shipping="replicate"))) == "replicate"
    assert notes == []  # network crypto is off on the test session: no fallback note
    assert set(TRANSPORTS) == {"joblib", "pull", "per_trial", "replicate", "connect"}
