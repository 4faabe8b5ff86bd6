"""Long-lived trial tasks (``trial_tasks: pull``, pull.py) on a real local[2] SparkSession.

* pull and one-job-per-trial give the same rows (the executor changes transport, never a score);
* closing mid-search cancels the running trials (no Spark job or stage left, the session still works);
* an import problem on an executor is one line naming the module, before any trial.

Worker loss (kill -9), lease expiry (a stopped Python worker) and decommissioning are in
tests/integration/test_pull_faults.py and test_faults.py, on a real standalone cluster.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from hyperspark.job.run import run
from hyperspark.job.protocol import parse_trials
from hyperspark.job.search.scheduler import Job
from hyperspark.job.search.searcher import Config
from hyperspark.job.spec import parse_spec

pytestmark = pytest.mark.spark


def _rows(summary):
    out = (summary.output_uri.removeprefix("file://")).rstrip("/")
    with open(f"{out}/trials.jsonl") as f:
        return {r.trial_id: r for r in parse_trials(f.read())}


def test_pull_and_per_trial_give_the_same_rows(spark, base_spec, tmp_path):
    pulled = run(spark, parse_spec({**base_spec, "output": str(tmp_path / "pull")}), "p", log=lambda s: None,
                 progress_live=False)
    per_trial = run(spark, parse_spec({**base_spec, "trial_tasks": "per_trial", "output": str(tmp_path / "job")}),
                    "j", log=lambda s: None, progress_live=False)
    a, b = _rows(pulled), _rows(per_trial)
    assert set(a) == set(b) and len(a) == 4
    for tid in a:
        assert a[tid].fold_scores == b[tid].fold_scores, tid
    assert pulled.best_params == per_trial.best_params
    assert pulled.shipping["measured"]["trial_tasks"] == "pull"
    assert pulled.shipping["measured"]["trials_requeued"] == 0
    assert "trial_tasks" not in per_trial.shipping.get("measured", {})


def _null_executor(spark, slots: int = 2):
    from hyperspark.job.executors.trial import TrialContext
    from hyperspark.job.executors.pull import PullExecutor

    ctx = TrialContext("null.sleep", "classification", "accuracy", 1, 1, 2)
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.array([0, 1] * 10)
    folds = [(np.arange(10), np.arange(10, 20))]
    return PullExecutor(spark, ctx, X, y, folds, slots, 2 * slots)


def _job(i: int, seconds: float) -> Job:
    return Job(Config(i, f"t{i}", {"seconds": seconds, "trial": i}))


def test_close_mid_search_cancels_running_trials(spark):
    ex = _null_executor(spark)
    ex.warm()
    futs = [ex.submit(_job(i, 120.0)) for i in range(4)]  # two run (one per slot), two are prefetched
    deadline = time.monotonic() + 60
    while len(ex._leased) < 2 and time.monotonic() < deadline:  # running or prefetched
        time.sleep(0.1)
    assert len(ex._leased) >= 2, "the trials did not start"
    t0 = time.monotonic()
    ex.close()
    closed_in = time.monotonic() - t0
    # the trials sleep 120 s: returning well before that means they were cancelled, not waited for
    assert closed_in < 60, f"close() waited {closed_in:.0f} s: the running trials were not cancelled"
    assert all(f.done() for f in futs)
    assert not any(f.done() and not f.cancelled() and f.exception() is None for f in futs), \
        "a cancelled trial produced a result"
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + 30
    while (tracker.getActiveJobsIds() or tracker.getActiveStageIds()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tracker.getActiveJobsIds() == [] and tracker.getActiveStageIds() == []
    assert spark.sparkContext.parallelize(range(4), 2).count() == 4  # the session is still usable


def test_every_submitted_trial_returns_exactly_one_row(spark):
    ex = _null_executor(spark)
    try:
        ex.warm()
        futs = {i: ex.submit(_job(i, 0.01)) for i in range(25)}
        rows = {i: f.result(timeout=120) for i, f in futs.items()}
    finally:
        ex.close()
    assert all(r["status"] == "ok" for r in rows.values()), [r.get("error") for r in rows.values()]
    assert ex.requeued == 0 and ex.tasks_launched == 2
    # both slots pulled work (one task per slot, each pulling many trials)
    assert len({r["pid"] for r in rows.values()}) == 2


def test_an_unimportable_model_on_the_executors_is_one_line_before_any_trial(spark):
    from hyperspark.errors import JobInputError
    from hyperspark.job.executors.trial import TrialContext
    from hyperspark.job.executors.pull import PullExecutor

    ctx = TrialContext("no_such_pkg_xyz.models:Model", "classification", "accuracy", 1, 1, 2)
    ex = PullExecutor(spark, ctx, np.zeros((4, 1)), np.array([0, 1, 0, 1]), [], 2, 4)
    try:
        with pytest.raises(JobInputError, match="no_such_pkg_xyz"):
            ex.warm()
    finally:
        ex.close()
