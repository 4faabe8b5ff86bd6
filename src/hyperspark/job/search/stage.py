"""The search stage: a searcher and a scheduler from the spec, resume's replay, and the one bounded
in-flight loop with every result recorded as it lands (trials.jsonl, progress, MLflow)."""
from __future__ import annotations

import time

from hyperspark.job.context import Run
from hyperspark.job.executors.base import Executor
from hyperspark.job.progress import Progress
from hyperspark.job.protocol import TrialResult
from hyperspark.job.search.loop import LoopStats, StopRules, run_loop
from hyperspark.job.search.scheduler import ASHA, Job, Scheduler
from hyperspark.job.search.searcher import Config, make_searcher
from hyperspark.job.spec import Spec


def make_scheduler(spec: Spec, greater_is_better: bool) -> Scheduler:
    searcher = make_searcher(spec.search.type, spec.target, spec.space, spec.search.trials, spec.search.seed,
                             greater_is_better)
    es = spec.early_stopping
    if es is None:
        return Scheduler(searcher, greater_is_better)
    return ASHA(searcher, greater_is_better, es.resource, es.min, es.max, es.reduction)


def restore(scheduler: Scheduler, rows: list[TrialResult]) -> list[TrialResult]:
    """Replay recorded rows into the scheduler and searcher (resume); returns the rows kept."""
    if not rows:
        return []
    configs: dict[str, Config] = {}
    for i, r in enumerate(rows):
        if r.trial_id not in configs:
            configs[r.trial_id] = Config(r.number if r.number is not None else i, r.trial_id, r.params)
    scheduler.restore(rows, configs)
    return list(rows)  # a copy: the store's list grows as new results land


def make_progress(run: Run) -> Progress:
    p, opts = run.problem, run.options
    progress = Progress(run.scheduler.searcher.total, p.metric, p.greater_is_better, already_done=len(run.resumed),
                        live=opts.progress_live, lines=opts.progress_lines)
    for r in run.resumed:
        progress.configs.add(r.trial_id)
        if r.decision in (None, "complete") and r.ok:
            progress.seed_best(r.mean, r.params)
    return progress


def stop_rules(spec: Spec, greater_is_better: bool) -> StopRules:
    return StopRules(deadline=None if spec.search.timeout is None else time.monotonic() + spec.search.timeout,
                     target=spec.search.target, greater_is_better=greater_is_better,
                     max_failures=spec.max_trial_failures, max_failed_fraction=spec.max_failed_fraction)


def search(run: Run, executor: Executor, tracker=None) -> LoopStats:
    """The bounded in-flight loop; every result is recorded (trials.jsonl, progress) as it lands.

    One job per slot waits in the executor's queue (``queue_ahead``), so a freed slot starts its next trial
    without a round trip to the driver; TPE's constant liar treats queued ones as pending like running ones.
    """
    spec, store, scheduler = run.spec, run.store, run.scheduler
    progress = make_progress(run)

    def to_row(job: Job, raw: dict) -> TrialResult:
        return TrialResult(trial_id=job.config.trial_id, params=job.config.params, number=job.config.number,
                           rung=job.rung, budget=job.budget, run_id=run.run_id, **raw)

    def on_result(row: TrialResult) -> None:
        store.add_trial(row)
        progress.update(row, pruned=scheduler.pruned)
        if tracker is not None:
            tracker.log_trials([row])  # only queues: MLflow is written from a driver thread

    batch = spec.search.dispatch == "batch"
    ahead = 0 if batch or run.spark is None else run.cluster.parallelism
    try:
        return run_loop(scheduler, executor, run.cluster.parallelism, to_row, on_result,
                        stop_rules(spec, run.problem.greater_is_better), ahead, batch=batch)
    finally:
        store.flush()
        progress.close()
