"""The job as a pipeline: load -> split -> search -> refit -> write, over ONE strategy.

Every kind of trial (estimator, MLlib, objective) takes this same path; what differs lives in its
strategy (``strategies/``). Entry points: ``cli.py`` (``spark-submit jobs/tune.py``), the warm driver
(``warm_server.py``), the Python API (``hyperspark.tune``: the user's session, an in-memory frame,
``artifacts`` to receive the refit model) and the bench's one-process baseline (``spark=None``: the
joblib executor).
"""
from __future__ import annotations

import time

from hyperspark.errors import JobInputError, SpecError
from hyperspark.job.context import Refit, Run, RunOptions
from hyperspark.job.protocol import RunSummary, TrialResult, new_run_id, one_line, run_id_problem
from hyperspark.job.resources import check_master, request_of
from hyperspark.job.results import RunStore, open_fs, open_run_dir
from hyperspark.job.search.stage import choose_best, make_scheduler, restore, search
from hyperspark.job.session import cluster_of, driver_cpu_seconds, is_connect, master_of
from hyperspark.job.spec import Spec
from hyperspark.job.strategies.registry import strategy_for
from hyperspark.job.summary import refit_params, write_summary


def run(spark, spec: Spec, run_id: str | None = None, resume: bool = False, **options) -> RunSummary:
    """load -> split -> search -> refit -> write; returns the summary (also written as summary.json).

    The run dir is held (``results.RunLock``) from its opening to the end, released whatever happens."""
    opened: list[RunStore] = []
    try:
        return _run(spark, spec, run_id, resume, opened, **options)
    finally:
        for store in opened:
            store.release()


def _run(spark, spec: Spec, run_id: str | None, resume: bool, opened: list, **options) -> RunSummary:
    """load -> split -> search -> refit -> write; returns the summary (also written as summary.json).

    ``spark=None`` runs the same pipeline without Spark: ``n_jobs`` local processes (the joblib executor),
    single-machine models and file:// data only. ``options`` are :class:`~.context.RunOptions` fields.
    """
    opts = RunOptions(**options)
    if run_id is not None and run_id_problem(run_id):  # every entry point: the CLI, the API, the warm driver
        raise SpecError(run_id_problem(run_id))
    r = Run(spark, spec, run_id or new_run_id(spec.name), strategy_for(spec), opts, timings=dict(opts.timings or {}))
    artifacts = opts.artifacts if opts.artifacts is not None else {}
    if spark is None and r.strategy.needs_spark:
        raise JobInputError(f"model {spec.model} needs Spark (MLlib); there is no one-process equivalent")
    if spark is not None and not is_connect(spark):  # a master that cannot run the resources: one line, early
        check_master(spark.sparkContext, request_of(spec))
    prestart = r.strategy.prestart(spark)  # Python workers start and import while the data loads
    r.problem = r.strategy.load(spark, opts.frame)
    r.store = open_run(spark, spec, r.run_id, r.problem.data_hash, opts.force)
    opened.append(r.store)
    artifacts.update(store=r.store, estimator=None)
    done = r.store.read_json("summary.json")
    if done is not None:  # a finished run resumed: nothing to run; the same summary is written again
        return _already_complete(r, done)
    t_exec = time.monotonic()  # the executors' registration: part of "load", timed on its own too
    r.cluster = cluster_of(spark, spec.trial_cpus, spec.parallelism, opts.n_jobs, opts.expected_executors,
                           request_of(spec))
    r.time("executors", t_exec)
    r.splits = r.strategy.split(r)
    r.time("load", r.t0)
    r.scheduler = make_scheduler(spec, r.problem.greater_is_better)
    r.resumed = restore(r.scheduler, r.store.rows)
    if resume or r.resumed:
        opts.log(f"run {r.run_id}: {len(r.resumed)} result(s) already recorded; running the rest")
    t_track = time.monotonic()
    tracker = start_tracking(r)
    r.time("tracking_start", t_track)
    if prestart is not None:  # the Python workers' start ran beside the load: what is left of it is waited
        t_wait = time.monotonic()
        prestart.join(120)
        r.time("prestart_wait", t_wait)
    stats, shipping = search_stage(r, tracker)
    best = choose_best(r)  # infeasible rows never; several objectives: select over the Pareto front
    if best is None:
        raise RuntimeError(_all_failed(r.store.rows))
    t_refit = time.monotonic()
    refit = r.strategy.refit(r, refit_params(r, best))
    r.time("refit", t_refit)
    artifacts["estimator"] = refit.estimator
    summary = write_summary(r, best, stats, shipping, refit)
    if tracker is not None:
        _finish_tracking(r, tracker, summary, refit)
    return summary


def open_run(spark, spec: Spec, run_id: str, data_hash: str = "", force: bool = False) -> RunStore:
    """The run dir, locked, with the rows already recorded there (resume) when spec and data match
    (``results.open_run_dir``: a different spec or data set is one line; ``force`` starts it over)."""
    return open_run_dir(RunStore(open_fs(spark, spec.output), run_id), spec.output, spec.fingerprint(),
                        spec.model_dump(mode="json"), data_hash, force)


def search_stage(r: Run, tracker):
    """Warm the strategy's executor, run the search, close it; the executor's shipping report."""
    executor = r.strategy.executor(r)
    t_search, cpu0 = time.monotonic(), driver_cpu_seconds(r.spark)
    try:
        stats = search(r, executor, tracker)
        r.time("search", t_search)  # the search ends with its last result; teardown is timed on its own
    finally:
        t_close = time.monotonic()
        executor.close()
    r.time("search_teardown", t_close)
    # the driver's CPU during the search (Python + its JVM): per trial, the ceiling on trials per second
    r.timings["driver_cpu_search"] = round(driver_cpu_seconds(r.spark) - cpu0, 3)
    if stats.stopped == "max_failed_fraction":
        raise RuntimeError(_too_many_failed(r.store.rows, r.spec.max_failed_fraction))
    return stats, executor.report().as_dict()


def start_tracking(r: Run):
    """An MLflow tracker when the spec asks for one (``tracking.mlflow``); None otherwise. Never raises:
    MLflow down or missing is one warning line, and the search goes on."""
    spec = r.spec
    if spec.tracking is None or spec.tracking.mlflow is None:
        return None
    from hyperspark.job.tracking import MlflowTracker

    ml = spec.tracking.mlflow
    tags = {"hyperspark.data_hash": r.problem.data_hash,
            "hyperspark.cluster": master_of(r.spark) if r.spark is not None else "joblib"}
    tracker = MlflowTracker(ml.uri, ml.experiment, r.run_id, spec.model_dump(mode="json"), tags)
    tracker.start()
    if r.resumed:
        tracker.log_trials(r.resumed)  # rows already in MLflow are skipped (resume adds no duplicates)
    return tracker


def _finish_tracking(r: Run, tracker, summary: RunSummary, refit: Refit) -> None:
    """The parent run gets the summary and the model; summary.json says how it went."""
    summary.tracking["mlflow"] = tracker.finish(summary, model=refit.estimator, X_sample=r.strategy.sample(r))
    r.store.write_json("summary.json", summary.model_dump(mode="json"))


def _already_complete(r: Run, done: dict) -> RunSummary:
    summary = RunSummary.model_validate(done)
    r.store.write_json("summary.json", summary.model_dump(mode="json"))
    r.options.log(f"run {r.run_id}: already complete ({summary.search.configs} configurations); nothing to run")
    return summary


def _all_failed(rows: list[TrialResult]) -> str:
    errs = [r.error for r in rows if r.status == "error" and r.error]
    return f"every trial failed; first error: {one_line(errs[0]) if errs else 'no trial finished'}"


def _too_many_failed(rows: list[TrialResult], fraction: float) -> str:
    failed = [r for r in rows if not r.ok]
    first = next((one_line(r.error) for r in failed if r.error), "?")
    return (f"{len(failed)} of {len(rows)} trials failed, past max_failed_fraction {fraction}; "
            f"stopped; first error: {first}")
