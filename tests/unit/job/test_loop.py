"""hyperspark.job.search.loop.run_loop with a fake scheduler and executors that need no Spark: the bound on
jobs in flight, stop rules (which end dispatch, never drop a result), drain, batch mode, and cancellation.
(Slot counts under real concurrency and ASHA end to end are in tests/job/test_search.py.)"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from hyperspark.job.protocol import TrialResult
from hyperspark.job.search.loop import LoopStats, StopRules, run_loop
from hyperspark.job.search.scheduler import Job
from hyperspark.job.search.searcher import Config


class ListScheduler:
    """Hands out jobs 0..n-1, then (once) ``drain_job``; decides ``decide(row)`` (default: complete)."""

    def __init__(self, n: int, drain_job: Job | None = None, decide=None):
        self.todo = [job(i) for i in range(n)]
        self.drain_job = drain_job
        self.drain_calls = 0
        self.decide = decide or (lambda r: "complete" if r.ok else "failed")

    def next_job(self):
        return self.todo.pop(0) if self.todo else None

    def drain(self):
        self.drain_calls += 1
        j, self.drain_job = self.drain_job, None
        return j

    def on_result(self, job, row):
        return self.decide(row)


def job(i: int, rung: int = 0) -> Job:
    return Job(Config(i, f"t{i}", {"i": i}), rung, None)


class DoneExecutor:
    """Returns futures already resolved: ``score(number)``, or an error row when it returns None."""

    def __init__(self, score=lambda n: n / 10):
        self.score = score
        self.submitted: list[int] = []

    def submit(self, j: Job) -> Future:
        self.submitted.append(j.config.number)
        fut: Future = Future()
        s = self.score(j.config.number)
        fut.set_result({"status": "ok", "mean": s} if s is not None else {"status": "error", "error": "boom"})
        return fut


def to_row(j: Job, raw: dict) -> TrialResult:
    return TrialResult(trial_id=j.config.trial_id, params=j.config.params, number=j.config.number, rung=j.rung,
                       budget=j.budget, **raw)


def test_in_flight_never_exceeds_slots_plus_queue_ahead():
    ex = DoneExecutor()
    rows: list[TrialResult] = []
    outstanding: list[int] = []
    submit = ex.submit

    def counting_submit(j):
        outstanding.append(len(ex.submitted) + 1 - len(rows))  # submitted, not yet handed to on_result
        return submit(j)

    ex.submit = counting_submit
    stats = run_loop(ListScheduler(10), ex, 2, to_row, rows.append, queue_ahead=1)
    assert max(outstanding) == 3 and stats.done == 10 and len(rows) == 10
    assert [r.decision for r in rows] == ["complete"] * 10 and stats.best_final == pytest.approx(0.9)


def test_at_least_one_job_runs_even_with_no_slots():
    ex = DoneExecutor()
    stats = run_loop(ListScheduler(3), ex, 0, to_row, lambda r: None)
    assert stats.done == 3 and ex.submitted == [0, 1, 2]


def test_max_failures_stops_dispatch_after_the_limit_is_passed():
    ex = DoneExecutor(score=lambda n: None)  # every evaluation fails
    rows: list[TrialResult] = []
    stats = run_loop(ListScheduler(10), ex, 1, to_row, rows.append, StopRules(max_failures=1))
    assert stats.stopped == "max_trial_failures" and stats.failed == 2 and len(rows) == 2
    assert [r.decision for r in rows] == ["failed", "failed"]


def test_failed_fraction_is_judged_only_after_min_for_fraction():
    ex = DoneExecutor(score=lambda n: 0.5 if n < 2 else None)  # 0, 1 succeed, then failures
    rows: list[TrialResult] = []
    rules = StopRules(max_failed_fraction=0.5, min_for_fraction=4)
    stats = run_loop(ListScheduler(10), ex, 1, to_row, rows.append, rules)
    # 4 done, 2 failed: 0.5 is not above the limit; 5 done, 3 failed: 0.6 is
    assert stats.stopped == "max_failed_fraction" and (stats.done, stats.failed) == (5, 3)
    assert ex.submitted == [0, 1, 2, 3, 4]


def test_target_counts_only_complete_rows():
    """A pruned row with a great score is not a final score: the target rule ignores it."""
    ex = DoneExecutor(score=lambda n: 0.99 if n == 0 else 0.1 * n)
    sched = ListScheduler(10, decide=lambda r: "prune" if r.number == 0 else "complete")
    stats = run_loop(sched, ex, 1, to_row, lambda r: None, StopRules(target=0.3))
    assert stats.stopped == "target" and ex.submitted == [0, 1, 2, 3]
    assert stats.best_final == pytest.approx(0.3)


def test_stop_rule_precedence_and_direction():
    assert StopRules(max_failures=0, target=0.5).reason(done=3, failed=1, best_final=0.9) == "max_trial_failures"
    assert StopRules(target=0.2, greater_is_better=False).reason(3, 0, 0.25) is None
    assert StopRules(target=0.2, greater_is_better=False).reason(3, 0, 0.2) == "target"  # reaching it is enough
    assert StopRules(deadline=time.monotonic() - 1).reason(0, 0, None) == "timeout"
    assert StopRules().reason(100, 100, 1.0) is None


def test_drain_runs_when_nothing_else_can_and_not_after_a_stop():
    ex = DoneExecutor()
    sched = ListScheduler(2, drain_job=job(0, rung=1))
    rows: list[TrialResult] = []
    run_loop(sched, ex, 2, to_row, rows.append)
    assert [(r.number, r.rung) for r in rows][-1] == (0, 1) and sched.drain_calls == 2

    stopped = ListScheduler(2, drain_job=job(0, rung=1))
    stats = run_loop(stopped, DoneExecutor(score=lambda n: None), 1, to_row, lambda r: None,
                     StopRules(max_failures=0))
    assert stats.stopped == "max_trial_failures" and stopped.drain_calls == 0


def test_stats_carry_over_from_a_resumed_run():
    prior = LoopStats(done=4, failed=1, best_final=0.95)
    stats = run_loop(ListScheduler(3), DoneExecutor(), 1, to_row, lambda r: None, stats=prior)
    assert stats is prior and (stats.done, stats.failed, stats.best_final) == (7, 1, 0.95)


class GatedExecutor:
    """Job 0 waits (at most ``hold`` seconds) until job 2 is submitted; the others finish at once. Logs
    ("submit", n) and the loop logs ("row", n), so the order shows whether the loop waited for a batch."""

    def __init__(self, hold: float):
        self.pool = ThreadPoolExecutor(max_workers=4)
        self.release = threading.Event()
        self.hold = hold
        self.log: list[tuple[str, int]] = []

    def submit(self, j: Job) -> Future:
        n = j.config.number
        self.log.append(("submit", n))
        if n == 2:
            self.release.set()
        return self.pool.submit(self._run, n)

    def _run(self, n: int) -> dict:
        if n == 0:
            self.release.wait(self.hold)
        return {"status": "ok", "mean": 0.5}


@pytest.mark.parametrize("batch", [False, True])
def test_batch_mode_refills_only_after_the_whole_batch(batch):
    ex = GatedExecutor(hold=0.5)
    run_loop(ListScheduler(4), ex, 2, to_row, lambda r: ex.log.append(("row", r.number)), batch=batch)
    assert sorted(n for kind, n in ex.log if kind == "row") == [0, 1, 2, 3]
    if batch:  # job 2 waits for the slow job 0 of its batch
        assert ex.log.index(("row", 0)) < ex.log.index(("submit", 2))
    else:  # the slot job 1 freed is refilled at once, while job 0 still runs
        assert ex.log.index(("submit", 2)) < ex.log.index(("row", 0))


def test_an_error_in_on_result_cancels_what_is_in_flight():
    pending: Future = Future()

    class OneDoneOneStuck:
        def submit(self, j):
            if j.config.number == 0:
                done: Future = Future()
                done.set_result({"status": "ok", "mean": 0.1})
                return done
            return pending

    def explode(row):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        run_loop(ListScheduler(2), OneDoneOneStuck(), 2, to_row, explode)
    assert pending.cancelled()
