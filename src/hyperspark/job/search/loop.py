"""The one bounded in-flight loop: keep every slot busy, ask for the next job the moment one finishes.

There is no batch barrier: when any job finishes, its result goes to the scheduler (which may promote it,
prune it, or tell the searcher), then to ``on_result`` (trials.jsonl, progress), and a new job is
dispatched at once. At most ``slots + queue_ahead`` jobs are in flight; ``queue_ahead`` keeps a job
waiting in Spark's queue per slot so a slot never waits for the driver (used for grid/random, whose
next configurations do not depend on results).

Stop rules end DISPATCH only: running jobs finish and are recorded, so nothing is lost or half-done.
"""
from __future__ import annotations

import time
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Callable, Protocol

from hyperspark.job.protocol import TrialResult, better
from hyperspark.job.search.scheduler import Job, Scheduler


class Executor(Protocol):
    """Runs one (params, budget) somewhere and returns its result row. Broadcast, replicate, MLlib and
    joblib executors implement this; they know nothing about searchers or rungs."""

    def submit(self, job: Job) -> Future: ...


@dataclass
class StopRules:
    deadline: float | None = None  # time.monotonic() after which nothing new is dispatched
    target: float | None = None  # stop once a final (max-budget) score reaches this
    greater_is_better: bool = True
    max_failures: int | None = None  # max_trial_failures: stop past this many failed evaluations
    max_failed_fraction: float | None = None
    min_for_fraction: int = 4  # evaluations needed before the fraction is judged

    def reason(self, done: int, failed: int, best_final: float | None) -> str | None:
        if self.max_failures is not None and failed > self.max_failures:
            return "max_trial_failures"
        if (self.max_failed_fraction is not None and done >= self.min_for_fraction
                and failed / done > self.max_failed_fraction):
            return "max_failed_fraction"
        if self.target is not None and best_final is not None and not better(self.target, best_final,
                                                                               self.greater_is_better):
            return "target"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "timeout"
        return None


@dataclass
class LoopStats:
    done: int = 0
    failed: int = 0
    stopped: str | None = None
    best_final: float | None = None


def run_loop(scheduler: Scheduler, executor: Executor, slots: int, to_row: Callable[[Job, dict], TrialResult],
             on_result: Callable[[TrialResult], None], rules: StopRules | None = None,
             queue_ahead: int = 0, stats: LoopStats | None = None, batch: bool = False) -> LoopStats:
    rules = rules or StopRules()
    stats = stats or LoopStats()
    limit = max(1, slots) + max(0, queue_ahead)
    in_flight: dict[Future, Job] = {}
    try:
        while True:
            # batch (for comparison only): refill only when the whole batch is done, a barrier per batch
            refill = not (batch and in_flight)
            while refill and stats.stopped is None and len(in_flight) < limit:
                stats.stopped = rules.reason(stats.done, stats.failed, stats.best_final)
                if stats.stopped:
                    break
                job = scheduler.next_job()  # promotions first, then a new configuration
                if job is None:
                    break  # nothing to start now; a running job may still bring a promotion
                in_flight[executor.submit(job)] = job
                if batch and len(in_flight) >= max(1, slots):
                    break
            if not in_flight:
                job = None if stats.stopped else scheduler.drain()
                if job is None:
                    break  # nothing running and nothing to start
                in_flight[executor.submit(job)] = job
            finished, _ = wait(list(in_flight), return_when=ALL_COMPLETED if batch else FIRST_COMPLETED)
            for fut in finished:
                job = in_flight.pop(fut)
                row = to_row(job, fut.result())
                row.decision = scheduler.on_result(job, row)
                stats.done += 1
                if not row.ok:
                    stats.failed += 1
                elif (row.decision == "complete" and row.feasible is not False  # infeasible: never "best"
                      and better(row.mean, stats.best_final, rules.greater_is_better)):
                    stats.best_final = row.mean
                on_result(row)
    except BaseException:
        for fut in in_flight:
            fut.cancel()
        raise
    return stats

