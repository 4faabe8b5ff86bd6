"""hyperspark.job.search.scheduler with a recording searcher: what each decision tells the searcher, the
rung budgets, ASHA's quota, and resume (``restore``) replaying rows and re-queueing promotions.
(The hand-made promotion table and drain are in tests/job/test_search.py.)"""
from __future__ import annotations

from collections import deque

import pytest

from hyperspark.job.protocol import TrialResult
from hyperspark.job.search.scheduler import ASHA, Job, Scheduler, rung_budgets
from hyperspark.job.search.searcher import Config


class RecordingSearcher:
    """Proposes given configurations in order and records every call the scheduler makes."""

    def __init__(self, n: int, start: int = 0):
        self.todo = deque(cfg(i) for i in range(start, start + n))
        self.calls: list[tuple] = []
        self.restored = None

    def ask(self):
        return self.todo.popleft() if self.todo else None

    def tell(self, config, outcome, value=None, budget=None):
        self.calls.append(("tell", config.number, outcome, value, budget))

    def report(self, config, value, budget):
        self.calls.append(("report", config.number, value, budget))

    def restore(self, records):
        self.restored = records


def cfg(i: int) -> Config:
    return Config(i, f"t{i}", {"i": i})


def ok(job: Job, score: float, **kw) -> TrialResult:
    return TrialResult(trial_id=job.config.trial_id, params=job.config.params, status="ok", number=job.config.number,
                       rung=job.rung, budget=job.budget, mean=score, **kw)


def failed(job: Job) -> TrialResult:
    return TrialResult(trial_id=job.config.trial_id, params=job.config.params, status="error",
                       number=job.config.number, rung=job.rung, budget=job.budget, error="boom")


def recorded(i: int, rung: int, budget, score, decision, ended: float, status: str = "ok") -> TrialResult:
    return TrialResult(trial_id=f"t{i}", params={"i": i}, status=status, number=i, rung=rung, budget=budget,
                       mean=score if status == "ok" else None, decision=decision, ended_at=ended)


# --------------------------------------------------------------------------- full budget
def test_full_budget_runs_each_configuration_once_and_tells_the_searcher():
    s = RecordingSearcher(3)
    sched = Scheduler(s, True)
    jobs = [sched.next_job() for _ in range(3)]
    assert [(j.config.number, j.rung, j.budget) for j in jobs] == [(0, 0, None), (1, 0, None), (2, 0, None)]
    assert sched.next_job() is None and sched.drain() is None and sched.max_rung == 0
    assert sched.on_result(jobs[0], ok(jobs[0], 0.7)) == "complete"
    assert sched.on_result(jobs[1], failed(jobs[1])) == "failed"
    assert s.calls == [("tell", 0, "complete", 0.7, None), ("tell", 1, "failed", None, None)]
    assert sched.pruned == 0 and not sched.has_queued()


def test_an_ok_status_without_a_score_is_a_failure():
    sched = Scheduler(RecordingSearcher(1), True)
    job = sched.next_job()
    assert sched.on_result(job, ok(job, None)) == "failed"


# --------------------------------------------------------------------------- ASHA
@pytest.mark.parametrize("lo,hi,reduction,expected", [
    (1, 1, 3, [1]), (2, 4, 2, [2, 4]), (1, 10, 3, [1, 3, 9, 10]), (5, 6, 4, [5, 6]), (3, 27, 3, [3, 9, 27]),
])
def test_rung_budgets_end_at_the_max(lo, hi, reduction, expected):
    assert rung_budgets(lo, hi, reduction) == expected


def test_asha_starts_at_rung_zero_and_reports_promotions_but_tells_prunes():
    s = RecordingSearcher(4)
    asha = ASHA(s, True, "n_estimators", 1, 4, 2)
    assert asha.budgets == [1, 2, 4] and asha.max_rung == 2
    a, b = asha.next_job(), asha.next_job()
    assert (a.rung, a.budget) == (0, 1)
    assert asha.on_result(a, ok(a, 0.5)) == "prune"  # 1 // 2 = 0: nothing goes up yet
    assert asha.on_result(b, ok(b, 0.9)) == "promote"  # top 1 of 2
    assert s.calls == [("tell", 0, "pruned", 0.5, 1), ("report", 1, 0.9, 1)]  # a promotion is not final
    assert asha.has_queued()
    up = asha.next_job()  # the promotion comes before configuration 2
    assert (up.config.number, up.rung, up.budget) == (1, 1, 2)
    assert asha.pruned == 1 and asha.promoted == [1, 0, 0]


def test_asha_quota_holds_when_every_new_result_is_the_best():
    """An improving searcher: each result beats all before it, yet at most n // reduction go up."""
    asha = ASHA(RecordingSearcher(9), True, "n_estimators", 1, 9, 3)
    decisions = []
    for score in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        job = asha.next_job()
        while job.rung != 0:  # promotions are dispatched first; keep them aside
            job = asha.next_job()
        decisions.append(asha.on_result(job, ok(job, score)))
    assert decisions.count("promote") == 3 == asha.promoted[0]
    assert decisions == ["prune", "prune", "promote", "prune", "prune", "promote", "prune", "prune", "promote"]


def test_asha_final_rung_result_is_complete_and_failed_rows_do_not_count_in_the_rung():
    s = RecordingSearcher(3)
    asha = ASHA(s, False, "max_iter", 2, 4, 2)  # lower is better
    a = asha.next_job()
    assert asha.on_result(a, failed(a)) == "failed"
    assert asha.rung_scores[0] == []
    b, c = asha.next_job(), asha.next_job()
    asha.on_result(b, ok(b, 0.3))
    assert asha.on_result(c, ok(c, 0.2)) == "promote"  # smaller wins
    up = asha.next_job()
    assert asha.on_result(up, ok(up, 0.1)) == "complete"
    assert s.calls[-1] == ("tell", 2, "complete", 0.1, 4)


# --------------------------------------------------------------------------- resume
def test_full_budget_restore_gives_the_searcher_each_outcome():
    s = RecordingSearcher(0)
    sched = Scheduler(s, True)
    rows = [recorded(1, 0, None, 0.8, "complete", 2.0), recorded(0, 0, None, None, "failed", 1.0, status="error")]
    records = sched.restore(rows, {"t0": cfg(0), "t1": cfg(1)})
    assert [(r.config.number, r.outcome, r.value) for r in records] == [(0, "failed", None), (1, "complete", 0.8)]
    assert s.restored == records and not sched.has_queued()


def test_asha_restore_requeues_unfinished_promotions_and_keeps_the_rung_history():
    s = RecordingSearcher(0)
    asha = ASHA(s, True, "n_estimators", 1, 9, 3)
    configs = {f"t{i}": cfg(i) for i in range(4)}
    rows = [
        recorded(0, 0, 1, 0.5, "prune", 1.0),
        recorded(1, 0, 1, 0.6, "prune", 2.0),
        recorded(2, 0, 1, 0.9, "promote", 3.0),  # promoted, and its rung-1 row landed
        recorded(2, 1, 3, 0.95, "promote", 6.0),  # promoted again; rung 2 never ran
        recorded(3, 0, 1, 0.4, "prune", 4.0),
    ]
    records = {r.config.number: r for r in asha.restore(rows, configs)}
    assert (records[0].outcome, records[0].value) == ("pruned", 0.5)
    assert (records[2].outcome, records[2].intermediate) == ("pending", {1: 0.9, 3: 0.95})
    assert asha.pruned == 3 and asha.promoted == [1, 1, 0] and asha.rung_scores[0] == [0.5, 0.6, 0.9, 0.4]
    job = asha.next_job()  # the promotion that had not finished runs first, at the next budget
    assert (job.config.number, job.rung, job.budget) == (2, 2, 9)
    assert asha.next_job() is None  # the searcher has nothing new
    assert asha.drain() is None  # rung 2 is on its way: the search is not stuck
    assert asha.on_result(job, ok(job, 0.97)) == "complete"


def test_asha_restore_counts_the_quota_so_a_resumed_rung_does_not_overpromote():
    asha = ASHA(RecordingSearcher(1, start=3), True, "n_estimators", 1, 9, 3)
    rows = [recorded(i, 0, 1, 0.1 * (i + 1), "promote" if i == 2 else "prune", float(i)) for i in range(3)]
    asha.restore(rows, {f"t{i}": cfg(i) for i in range(3)})
    asha.next_job()  # the re-queued rung-1 job of configuration 2
    new = asha.next_job()
    assert new.config.number == 3 and new.rung == 0
    # n = 4, k = 1, and the rung already promoted one: even the best score so far is pruned
    assert asha.on_result(new, ok(new, 0.99)) == "prune"
