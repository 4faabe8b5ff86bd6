"""Bounded trials (issue 23): a trial past ``trial_timeout`` is recorded ``timeout`` once and its Python worker
is killed (a sleep, a pure-Python loop, a regex backtracking inside C while holding the GIL); a trial that kills
its own worker is re-queued ``max_requeues`` times, then recorded ``lost``; the search finishes with the rest.
On the shared local[2] session (tests/spark_fixtures.py), through ``hyperspark.tune``."""
from __future__ import annotations

import time

import pandas as pd
import pytest

import hyperspark
from hyperspark.job.protocol import TrialResult, parse_trials
from hyperspark.job.search.scheduler import Scheduler
from hyperspark.job.search.searcher import make_searcher

MODES = ["ok1", "sleep", "spin", "regex", "exit", "ok2"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.spark
def test_hung_and_crashing_trials_end_bounded_and_the_search_finishes(spark, tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()

    def objective(params, data, budget=None):  # defined here: shipped by value
        import os
        import re
        import time

        mode = params["mode"]
        (pids / f"{mode}-{os.getpid()}").write_text("")
        if mode == "sleep":
            time.sleep(3600)
        elif mode == "spin":
            while True:
                pass
        elif mode == "regex":  # exponential backtracking in C, the GIL held throughout
            re.match(r"(a+)+$", "a" * 64 + "b")
        elif mode == "exit":
            os._exit(1)  # kills its Python worker
        return 1.0 if mode == "ok1" else 0.5

    frame = pd.DataFrame({"a": range(8), "target": [0, 1] * 4})
    r = hyperspark.tune(objective=objective, space={"mode": MODES}, data=frame, label="target", search="grid",
                        output=str(tmp_path / "runs"), trial_timeout="3s", max_requeues=1, spark=spark)
    rows = parse_trials((tmp_path / "runs" / r.run_id / "trials.jsonl").read_text())
    by_mode: dict[str, list[TrialResult]] = {}
    for row in rows:
        by_mode.setdefault(row.params["mode"], []).append(row)
    assert {m: [x.status for x in rs] for m, rs in by_mode.items()} == {
        "ok1": ["ok"], "ok2": ["ok"], "sleep": ["timeout"], "spin": ["timeout"], "regex": ["timeout"],
        "exit": ["lost"]}
    assert all(x.decision == "failed" and x.error for m in ("sleep", "spin", "regex", "exit") for x in by_mode[m])
    assert "trial_timeout (3 s)" in by_mode["regex"][0].error and "lost 2 times" in by_mode["exit"][0].error
    assert r.best_params == {"mode": "ok1"}
    s = r.summary.search
    assert (s.ok, s.failed, s.timed_out, s.lost) == (2, 4, 3, 1)
    # the exiting trial ran 1 + max_requeues times, in a new worker each time
    assert len(list(pids.glob("exit-*"))) == 2
    # every timed-out trial's Python worker was killed (the watchdog: even the one stuck in C with the GIL)
    hung = [int(p.name.split("-")[1]) for m in ("sleep", "spin", "regex") for p in pids.glob(f"{m}-*")]
    assert len(hung) == 3
    end = time.monotonic() + 10
    while any(_alive(p) for p in hung) and time.monotonic() < end:
        time.sleep(0.2)
    assert not [p for p in hung if _alive(p)]
    assert spark.range(3).count() == 3  # the session is fine for whoever comes next


def test_resume_does_not_rerun_timed_out_or_lost_trials():
    sched = Scheduler(make_searcher("grid", "x", {"mode": ["a", "b", "c"]}, None, 1, True), True)
    first = [sched.next_job() for _ in range(3)]
    rows = [TrialResult(trial_id=j.config.trial_id, params=j.config.params, number=j.config.number, status=st,
                        decision="failed" if st != "ok" else "complete", mean=0.5 if st == "ok" else None,
                        ended_at=float(i))
            for i, (j, st) in enumerate(zip(first, ["timeout", "lost", "ok"]))]
    again = Scheduler(make_searcher("grid", "x", {"mode": ["a", "b", "c"]}, None, 1, True), True)
    from hyperspark.job.search.stage import restore

    restore(again, rows)
    assert again.next_job() is None


@pytest.mark.parametrize("status", ["timeout", "lost"])
def test_asha_takes_a_timed_out_or_lost_rung_as_failed(status):
    from hyperspark.job.search.scheduler import ASHA

    space = {"lr": [0.1, 0.2, 0.3]}
    asha = ASHA(make_searcher("grid", "x", space, None, 1, True), True, "epochs", 1, 9, 3)
    job = asha.next_job()
    row = TrialResult(trial_id=job.config.trial_id, params=job.config.params, status=status, rung=0)
    assert not row.ok and asha.on_result(job, row) == "failed" and asha.drain() is None
