"""The search stage: a searcher and a scheduler from the spec (one or several objectives, constraints),
resume's replay, warm starts, the one bounded in-flight loop with every result recorded as it lands
(trials.jsonl, progress, MLflow; each row annotated with ``feasible``/``violations``), and the row the
refit takes (:func:`choose_best`: the best feasible row, or ``select`` on the Pareto front)."""
from __future__ import annotations

import time

from hyperspark.job.context import Run
from hyperspark.job.executors.base import Executor
from hyperspark.job.pareto import COSTS, Objectives, choose, front, parse_constraint
from hyperspark.job.progress import Progress
from hyperspark.job.protocol import LOWER_IS_BETTER, TrialResult, pick_best
from hyperspark.job.search.loop import LoopStats, StopRules, run_loop
from hyperspark.job.search.scheduler import ASHA, MOASHA, Job, Scheduler
from hyperspark.job.search.searcher import Config, make_searcher
from hyperspark.job.search.warm import warm_start
from hyperspark.job.spec import Spec


def objectives_of(spec: Spec, greater_is_better: bool) -> Objectives | None:
    """The spec's objectives and constraints (None: one metric, no constraints: the classic run)."""
    if not spec.objectives and not spec.constraints:
        return None
    primary = (spec.metric or "score") if spec.is_objective else spec.primary_metric
    if primary is None:  # a model whose objectives are all costs scores the task's default metric
        primary = ""
    dirs = _directions(spec, primary, greater_is_better)
    return Objectives(tuple(n for n, _ in dirs), tuple(g for _, g in dirs), primary,
                      tuple(parse_constraint(c) for c in spec.constraints or []),
                      spec.select.model_dump() if spec.select is not None else {})


def _directions(spec: Spec, primary: str, primary_gib: bool) -> list[tuple[str, bool]]:
    """``(name, greater_is_better)`` per objective: its ``direction``, else the metric's own (the scored
    metric: the problem's; costs and error metrics minimize)."""
    if not spec.objectives:
        return [(primary, primary_gib)]
    out = []
    for o in spec.objectives:
        if o.direction is not None:
            out.append((o.metric, o.direction == "maximize"))
        elif o.metric == primary:
            out.append((o.metric, primary_gib))
        else:
            out.append((o.metric, not (o.metric in COSTS or o.metric in LOWER_IS_BETTER)))
    return out


def make_scheduler(spec: Spec, greater_is_better: bool) -> Scheduler:
    obj = objectives_of(spec, greater_is_better)
    searcher = make_searcher(spec.search.type, spec.target, spec.space, spec.search.trials, spec.search.seed,
                             greater_is_better, directions=list(obj.greater) if obj is not None else None,
                             n_constraints=len(obj.constraints) if obj is not None else 0,
                             enqueue=[{**spec.search_space.fixed_params(), **p} for p in spec.search.enqueue])
    es = spec.early_stopping
    if es is None:
        return Scheduler(searcher, greater_is_better, obj)
    if obj is not None:  # several objectives, or constraints: promotion by non-dominated sorting
        return MOASHA(searcher, greater_is_better, es.resource, es.min, es.max, es.reduction, obj)
    return ASHA(searcher, greater_is_better, es.resource, es.min, es.max, es.reduction, obj)


def choose_best(run: Run) -> TrialResult | None:
    """The row the refit takes: one objective, the best feasible final row (``protocol.pick_best``);
    several, ``select`` over the Pareto front (``pareto.choose``). Infeasible rows are never chosen."""
    sched, rows = run.scheduler, run.store.rows
    obj = sched.objectives
    if obj is None or (not obj.multi and obj.names[0] == obj.primary):
        best = pick_best(rows, run.problem.greater_is_better, sched.max_rung)
    else:
        best = choose(front(rows, obj, sched.max_rung), obj)
    done = [r for r in rows if r.ok and r.rung == sched.max_rung]
    if best is None and done:
        raise RuntimeError(f"no trial met the constraints ({len(done)} finished, every one infeasible): "
                           f"{'; '.join(c.text for c in obj.constraints)}")
    return best


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
                        live=opts.progress_live, lines=opts.progress_lines, objectives=run.scheduler.objectives)
    for r in run.resumed:
        progress.configs.add(r.trial_id)
        progress.seed(r)  # feasible final rows only: the best, or the front with several objectives
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
        row = TrialResult(trial_id=job.config.trial_id, params=job.config.params, number=job.config.number,
                          rung=job.rung, budget=job.budget, run_id=run.run_id, **raw)
        return scheduler.objectives.annotate(row) if scheduler.objectives is not None else row

    def on_result(row: TrialResult) -> None:
        store.add_trial(row)
        progress.update(row, pruned=scheduler.pruned)
        if tracker is not None:
            tracker.log_trials([row])  # only queues: MLflow is written from a driver thread

    scheduler.warm_info = warm_start(run, scheduler)  # earlier runs' trials, told before the first ask
    batch = spec.search.dispatch == "batch"
    ahead = 0 if batch or run.spark is None else run.cluster.parallelism
    try:
        return run_loop(scheduler, executor, run.cluster.parallelism, to_row, on_result,
                        stop_rules(spec, run.problem.greater_is_better), ahead, batch=batch)
    finally:
        store.flush()
        progress.close()
