"""The job: spec -> session -> load -> split -> search -> refit -> write. Entry: ``jobs/tune.py``.

Objectives (``objective:`` instead of ``model:``) take the same path without folds and without a refit:
the best params and score come from the search. The Python API (``hyperspark.tune``) calls :func:`run`
with the user's session, an in-memory frame (``frame``) and ``artifacts`` to receive the refit model.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
import traceback

from dataclasses import dataclass, field

from hyperspark.job import data as D
from hyperspark.job import metrics as M
from hyperspark.job import usercode as U
from hyperspark.job.search.loop import LoopStats, StopRules, run_loop
from hyperspark.errors import JobInputError, SpecError
from hyperspark.job.progress import Progress
from hyperspark.job.protocol import (ERROR_PREFIX, FAILED_PREFIX, RESULT_PREFIX, BestTrial, ClusterInfo, CostInfo, DataInfo,
                       EarlyStoppingInfo, RunSummary, SearchInfo, TrialResult, better)
from hyperspark.job.results import RunStore, open_fs
from hyperspark.job.search.scheduler import ASHA, Job, Scheduler
from hyperspark.job.search.searcher import Config, make_searcher
from hyperspark.job.session import driver_cpu_seconds, total_cores, versions, wait_for_executors
from hyperspark.job.spec import Spec

# --------------------------------------------------------------------------- the run
def default_metric(task: str, n_classes: int) -> str:
    if task == "regression":
        return "rmse"
    return "roc_auc" if n_classes == 2 else "f1"


def new_run_id(spec: Spec) -> str:
    return f"{spec.name}-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def open_run(spark, spec: Spec, run_id: str) -> RunStore:
    """The run dir, with the rows already recorded there (resume) when the spec matches."""
    store = RunStore(open_fs(spark, spec.output), run_id)
    prev = store.read_json("spec.json")
    if prev is not None and prev.get("fingerprint") != spec.fingerprint():
        raise JobInputError(
            f"run {run_id} in {spec.output} was made with a different spec; choose another --run-id"
        )
    store.rows = store.load_trials()
    store.fs.mkdirs(run_id)
    store.write_json("spec.json", {"fingerprint": spec.fingerprint(), "spec": spec.model_dump(mode="json")})
    return store


def pick_best(rows: list[TrialResult], greater_is_better: bool, final_rung: int = 0) -> TrialResult | None:
    """Best mean CV score among final-budget results; ties go to the earlier configuration in search
    order (as GridSearchCV does)."""
    best = None
    for r in sorted((r for r in rows if r.ok and r.rung == final_rung),
                    key=lambda r: (r.number if r.number is not None else 1 << 30)):
        if best is None or better(r.mean, best.mean, greater_is_better):
            best = r
    return best


@dataclass
class Problem:
    """What the load stage found: the data (driver arrays or a Spark frame), its task and the metric."""

    prep: object  # data.LocalData (single-machine) | data.Prepared (MLlib)
    metric: str
    greater_is_better: bool


@dataclass
class Splits:
    train_rows: int
    test_rows: int
    X_tr: object = None
    y_tr: object = None
    X_te: object = None
    y_te: object = None
    folds: list = field(default_factory=list)  # numpy index pairs, or cached Spark (train, validation)
    train: object = None  # MLlib: Spark frames
    test: object = None


@dataclass
class Cluster:
    executors: int
    cores: int
    slots: int
    parallelism: int


def stage_load(spark, spec: Spec, frame=None) -> Problem:
    """Read and check the data set (or take ``frame``, a pandas DataFrame already in the driver)."""
    ds = spec.dataset
    if spec.is_objective:
        metric = spec.metric or "score"
        if ds.load == "none":  # the objective reads its own data from the URI
            return Problem(None, metric, bool(spec.greater_is_better))
        pdf = frame if frame is not None else D.load_for_driver(spark, ds.uri, ds.resolved_format)
        prep = D.prepare_local(pdf, ds.label, ds.features, spec.task, ds.nan_policy)
        return Problem(prep, metric, bool(spec.greater_is_better))
    m = spec.model_def
    if m.strategy == "trials":  # single-machine libraries: the data goes to the driver in any case
        pdf = frame if frame is not None else D.load_for_driver(spark, ds.uri, ds.resolved_format)
        prep = D.prepare_local(pdf, ds.label, ds.features, spec.task, ds.nan_policy)
    else:
        df = spark.createDataFrame(frame) if frame is not None else D.load(spark, ds.uri, ds.resolved_format)
        prep = D.prepare(df, ds.label, ds.features, spec.task, ds.nan_policy)
    if prep.task not in m.tasks():
        raise JobInputError(f"model {spec.model} does not support {prep.task} (label {prep.label!r})")
    metric = spec.metric or default_metric(prep.task, prep.n_classes)
    if metric not in M.METRICS[prep.task]:
        raise JobInputError(f"metric {metric} does not apply to {prep.task}; use one of {', '.join(M.METRICS[prep.task])}")
    if metric == "roc_auc" and m.strategy == "mllib" and prep.n_classes != 2:
        raise JobInputError("metric roc_auc with MLlib models needs a binary label; use f1 or accuracy")
    return Problem(prep, metric, M.greater_is_better(metric))


def stage_split(spec: Spec, problem: Problem, slots: int) -> Splits:
    prep = problem.prep
    if spec.is_objective:  # no folds: the objective does its own validation on the train split
        if prep is None:
            return Splits(0, 0)
        X_tr, X_te, y_tr, y_te = D.split_numpy(prep.X, prep.y, prep.task, spec.test_fraction, spec.seed)
        return Splits(len(y_tr), len(y_te), X_tr, y_tr, X_te, y_te)
    if spec.model_def.strategy == "trials":
        X_tr, X_te, y_tr, y_te = D.split_numpy(prep.X, prep.y, prep.task, spec.test_fraction, spec.seed)
        folds = D.cv_folds(y_tr, prep.task, spec.cv_folds, spec.seed)
        return Splits(len(y_tr), len(y_te), X_tr, y_tr, X_te, y_te, folds)
    from hyperspark.job import mllib as ML

    assembled = ML.assemble(prep.df, prep.features, prep.label)
    train, test = ML.split(assembled, spec.test_fraction, spec.seed)
    train, test = train.cache(), test.cache()
    train_rows, test_rows = train.count(), test.count()
    if train_rows < spec.cv_folds or test_rows == 0:
        raise JobInputError(f"dataset: {prep.rows} rows are too few for test_fraction={spec.test_fraction} "
                            f"and cv_folds={spec.cv_folds}")
    folds = ML.make_folds(train, spec.cv_folds, spec.seed, max(slots, 1))
    return Splits(train_rows, test_rows, folds=folds, train=train, test=test)


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


def search_stage(scheduler: Scheduler, executor, slots: int, spec: Spec, problem: Problem, store: RunStore,
                 run_id: str, progress: Progress, queue_ahead: int = 0, tracker=None) -> LoopStats:
    """The bounded in-flight loop; every result is recorded (trials.jsonl, progress) as it lands."""
    rules = StopRules(
        deadline=None if spec.search.timeout is None else time.monotonic() + spec.search.timeout,
        target=spec.search.target, greater_is_better=problem.greater_is_better,
        max_failures=spec.max_trial_failures, max_failed_fraction=spec.max_failed_fraction)

    def to_row(job: Job, raw: dict) -> TrialResult:
        return TrialResult(trial_id=job.config.trial_id, params=job.config.params, number=job.config.number,
                           rung=job.rung, budget=job.budget, run_id=run_id, **raw)

    def on_result(row: TrialResult) -> None:
        store.add_trial(row)
        progress.update(row, pruned=scheduler.pruned)
        if tracker is not None:
            tracker.log_trials([row])  # only queues: MLflow is written from a driver thread

    try:
        batch = spec.search.dispatch == "batch"
        return run_loop(scheduler, executor, slots, to_row, on_result, rules, 0 if batch else queue_ahead,
                        batch=batch)
    finally:
        store.flush()
        progress.close()


def run(spark, spec: Spec, run_id: str | None = None, resume: bool = False, log=print,
        progress_live: bool | None = None, timings: dict | None = None, n_jobs: int = 1, *,
        frame=None, artifacts: dict | None = None, progress_lines: bool = True,
        data_input: str | None = None, expected_executors: int | None = None) -> RunSummary:
    """load -> split -> search -> refit -> write; returns the summary (also written as summary.json).

    ``spark=None`` runs the same pipeline without Spark: ``n_jobs`` local processes (joblib's executor),
    single-machine models and file:// data only. That is the bench's one-machine baseline.

    ``frame``: a pandas DataFrame to use instead of reading ``dataset.uri`` (the Python API);
    ``artifacts``: a dict that receives ``estimator`` (the refit model, None for objectives), ``store``;
    ``progress_lines``: print ``HYPERSPARK_PROGRESS`` lines (the API turns them off);
    ``data_input``: how the data reached the job, recorded in the summary (``data.input``);
    ``expected_executors``: wait for that many executors (default: ``spark.hyperspark.expectedExecutors``).
    """
    timings = dict(timings or {})
    t0 = time.monotonic()
    run_id = run_id or new_run_id(spec)
    artifacts = artifacts if artifacts is not None else {}

    prestart = prestart_workers(spark, spec)  # Python workers start and import while the data loads
    problem = stage_load(spark, spec, frame)
    store = open_run(spark, spec, run_id)
    artifacts.update(store=store, estimator=None)
    done = store.read_json("summary.json")
    if done is not None:  # a finished run resumed: nothing to run; the same summary is written again
        summary = RunSummary.model_validate(done)
        store.write_json("summary.json", summary.model_dump(mode="json"))
        log(f"run {run_id}: already complete ({summary.search.configs} configurations); nothing to run")
        return summary

    if spark is None and spec.strategy == "mllib":
        raise JobInputError(f"model {spec.model} needs Spark (MLlib); there is no one-process equivalent")
    n_exec = wait_for_executors(spark, expected=expected_executors) if spark is not None else 0
    cores = total_cores(spark) if spark is not None else n_jobs * spec.threads_per_trial
    slots = cores // spec.threads_per_trial
    if slots < 1:
        raise JobInputError(f"threads_per_trial={spec.threads_per_trial} is more than the {cores} core(s) "
                            "an executor has: lower it or give workers more cores")
    parallelism = slots if spec.parallelism == "auto" else int(spec.parallelism)
    cluster = Cluster(n_exec, cores, slots, parallelism)

    splits = stage_split(spec, problem, slots)
    timings["load"] = round(time.monotonic() - t0, 3)

    scheduler = make_scheduler(spec, problem.greater_is_better)
    resumed = restore(scheduler, store.rows)
    if resume or resumed:
        log(f"run {run_id}: {len(resumed)} result(s) already recorded; running the rest")
    progress = Progress(scheduler.searcher.total, problem.metric, problem.greater_is_better,
                        already_done=len(resumed), live=progress_live, lines=progress_lines)
    for r in resumed:
        progress.configs.add(r.trial_id)
        if r.decision in (None, "complete") and r.ok:
            progress.seed_best(r.mean, r.params)

    tracker = start_tracking(spark, spec, run_id, problem, resumed)
    if prestart is not None:
        prestart.join(120)
    executor, shipping = _executor(spark, spec, problem, splits, cluster, timings)
    t1, cpu1 = time.monotonic(), driver_cpu_seconds(spark)
    try:
        # one job per slot waits in Spark's queue, so a freed slot starts its next trial without a round
        # trip to the driver; tpe's constant liar treats the queued ones as pending like running ones
        ahead = cluster.parallelism if spark is not None else 0
        stats = search_stage(scheduler, executor, cluster.parallelism, spec, problem, store, run_id, progress,
                             queue_ahead=ahead, tracker=tracker)
        # the search ends with its last result; stopping the trial tasks is timed on its own
        timings["search"] = round(time.monotonic() - t1, 3)
    finally:
        t_close = time.monotonic()
        executor.close()
    timings["search_teardown"] = round(time.monotonic() - t_close, 3)
    # the driver's CPU during the search (Python + its JVM): per trial, the ceiling on trials per second
    timings["driver_cpu_search"] = round(driver_cpu_seconds(spark) - cpu1, 3)
    if stats.stopped == "max_failed_fraction":
        raise RuntimeError(_too_many_failed(store.rows, spec.max_failed_fraction))
    if hasattr(executor, "report"):
        shipping = executor.report().__dict__.copy()

    best = pick_best(store.rows, problem.greater_is_better, scheduler.max_rung)
    if best is None:
        raise RuntimeError(_all_failed(store.rows))
    t2 = time.monotonic()
    test_metrics, model_info = stage_refit(spark, spec, problem, splits, best, store)
    timings["refit"] = round(time.monotonic() - t2, 3)
    artifacts["estimator"] = model_info.get("estimator")
    t3 = time.monotonic()
    summary = stage_write(spark, spec, problem, splits, cluster, scheduler, store, best, test_metrics, run_id,
                          resumed, stats, shipping, timings, t0, t3, model_info, data_input)
    if tracker is not None:  # the parent run gets the summary and the model; summary.json says how it went
        summary.tracking["mlflow"] = tracker.finish(summary, model=model_info.get("estimator"),
                                                    X_sample=_sample(spec, problem, splits))
        store.write_json("summary.json", summary.model_dump(mode="json"))
    return summary


def prestart_workers(spark, spec: Spec):
    """Start every slot's Python worker and import the model library (or the user's code) NOW, in a
    background job, while the driver loads and splits the data: the later warm-up then only fetches the
    broadcast, in workers Spark reuses (``spark.python.worker.reuse``). Returns the thread, or None when
    there is nothing to start (no Spark, MLlib, replicate). Problems are ignored here: the warm-up reports
    an unimportable module in one line, as before."""
    if spark is None or spec.strategy not in ("trials", "objective") or spec.data_shipping != "broadcast":
        return None
    import threading

    from hyperspark.job.executors.trials import TrialContext, check_on_executors

    task = spec.task or "classification"  # only picks which class to import; both live in one module
    if not spec.is_objective and not U.is_user_code(spec.target) and spec.model_def.classifier is None:
        task = "regression"
    ctx = TrialContext(spec.target, task, "", spec.threads_per_trial, spec.seed, 0,
                       kind="objective" if spec.is_objective else "model", payload=U.payload(spec.target))

    def go() -> None:
        try:
            wait_for_executors(spark)
            slots = max(1, total_cores(spark) // spec.threads_per_trial)
            spark.sparkContext.setJobGroup("hyperspark-prestart", "hyperspark: start Python workers", True)
            check_on_executors(spark.sparkContext, ctx, slots)
        except Exception:  # noqa: BLE001 - best effort; warm-up checks again and reports
            pass

    t = threading.Thread(target=go, name="prestart", daemon=True)
    t.start()
    return t


def start_tracking(spark, spec: Spec, run_id: str, problem: Problem, resumed: list[TrialResult]):
    """An MLflow tracker when the spec asks for one (``tracking.mlflow``); None otherwise. Never raises:
    MLflow down or missing is one warning line, and the search goes on."""
    if spec.tracking is None or spec.tracking.mlflow is None:
        return None
    from hyperspark.job.tracking import MlflowTracker

    ml = spec.tracking.mlflow
    tags = {"hyperspark.data_hash": problem.prep.data_hash if problem.prep is not None else "",
            "hyperspark.cluster": spark.sparkContext.master if spark is not None else "joblib"}
    tracker = MlflowTracker(ml.uri, ml.experiment, run_id, spec.model_dump(mode="json"), tags)
    tracker.start()
    if resumed:
        tracker.log_trials(resumed)  # rows already in MLflow are skipped (resume adds no duplicates)
    return tracker


def _sample(spec: Spec, problem: Problem, splits: Splits):
    """A few rows of features for the logged model's signature (None for objectives: no model)."""
    if spec.is_objective:
        return None
    if spec.model_def.strategy == "trials":
        return splits.X_te[:5]
    return problem.prep.df.select(*problem.prep.features).limit(5).toPandas()


def _executor(spark, spec: Spec, problem: Problem, splits: Splits, cluster: Cluster, timings: dict):
    prep = problem.prep
    resource = spec.early_stopping.resource if spec.early_stopping else None
    if spec.strategy in ("trials", "objective"):
        from hyperspark.job.executors.trials import (BroadcastExecutor, JoblibExecutor, ObjectiveData, ReplicateExecutor, TrialContext,
                                check_on_executors)

        task = prep.task if prep is not None else (spec.task or "custom")
        ctx = TrialContext(spec.target, task, problem.metric, spec.threads_per_trial, spec.seed,
                           prep.n_classes if prep is not None else 0, resource,
                           kind="objective" if spec.is_objective else "model", payload=U.payload(spec.target))
        X, y, folds = splits.X_tr, splits.y_tr, splits.folds
        if spec.is_objective:  # the objective's ``data``: the train split, or the URI itself
            X = (spec.dataset.uri if prep is None else
                 ObjectiveData(splits.X_tr, splits.y_tr, list(prep.features), prep.label, prep.task,
                               list(prep.classes)))
            y, folds = None, None
        tw = time.monotonic()
        if spark is None:
            ex = JoblibExecutor(ctx, X, y, folds, cluster.parallelism)
            ex.warm()
        elif spec.data_shipping == "broadcast":
            pull = spec.trial_tasks == "pull" and _pull_allowed(spark)
            if spec.trial_tasks == "pull" and not pull:
                print("hyperspark: spark.network.crypto.enabled is on and the trial tasks' own connection is "
                      "authenticated but not encrypted: using trial_tasks: per_trial", flush=True)
            if pull:
                from hyperspark.job.executors.pull import PullExecutor

                ex = PullExecutor(spark, ctx, X, y, folds, cluster.slots, 2 * cluster.parallelism,
                                  parallelism=cluster.parallelism)
            else:
                ex = BroadcastExecutor(spark, ctx, X, y, folds, cluster.slots, 2 * cluster.parallelism)
            try:
                ex.warm()
            except BaseException:
                ex.close()
                raise
        else:
            if U.is_user_code(spec.target):
                check_on_executors(spark.sparkContext, ctx, cluster.slots)
            ex = ReplicateExecutor(spark, ctx, X, y, folds, cluster.parallelism)
        timings["warmup"] = round(time.monotonic() - tw, 3)
        return ex, {}
    from hyperspark.job.mllib import MLlibExecutor

    timings["warmup"] = 0.0
    par = cluster.parallelism if spec.parallelism != "auto" else max(2, cluster.slots)
    ex = MLlibExecutor(spark, spec.model, prep.task, problem.metric, prep.n_classes, spec.seed, prep.label,
                       splits.folds, par, resource)
    return ex, {"strategy": "mllib", "note": "data stays distributed; folds cached on executors"}


def _pull_allowed(spark) -> bool:
    """Long-lived trial tasks talk to the driver on their own connection (HMAC-authenticated, not
    encrypted). Where the user asked Spark to encrypt its traffic, trials go through Spark instead."""
    return spark.sparkContext.getConf().get("spark.network.crypto.enabled", "false").lower() != "true"


def best_params_for_refit(spec: Spec, best: TrialResult) -> dict:
    """The winner's params at full budget (early stopping sets the resource per rung)."""
    if spec.early_stopping is None or best.budget is None:
        return dict(best.params)
    return {**best.params, spec.early_stopping.resource: int(best.budget)}


def stage_refit(spark, spec: Spec, problem: Problem, splits: Splits, best: TrialResult, store: RunStore):
    """Fit the best params on the whole training split, score every metric on the test split, save."""
    prep = problem.prep
    params = best_params_for_refit(spec, best)
    if spec.is_objective:  # nothing to refit: the objective trains what it trains
        return {}, {"format": None, "estimator": None}
    if spec.model_def.strategy == "trials":
        from hyperspark.job.executors.trials import dumps_model, predict_scores
        from hyperspark.job.models import build_single_machine

        threads = os.cpu_count() or 1  # the search is over: the refit may use the driver's cores
        est = build_single_machine(spec.model_def, prep.task, params, threads, spec.seed)
        est.fit(splits.X_tr, splits.y_tr)
        y_score = None
        if prep.task == "classification":
            try:
                y_score = predict_scores(est, splits.X_te, prep.n_classes)
            except AttributeError:
                y_score = None
        test_metrics = M.all_scores(prep.task, splits.y_te, est.predict(splits.X_te), y_score, prep.n_classes)
        _save_joblib(store, dumps_model(est))
        return test_metrics, {"format": "joblib", "estimator": est}
    from hyperspark.job import mllib as ML

    for tr, va in splits.folds:
        tr.unpersist()
        va.unpersist()
    model, test_metrics = ML.refit_and_score(spec.model, prep.task, prep.n_classes, spec.seed, prep.label,
                                             params, splits.train, splits.test)
    for df in (splits.train, splits.test, prep.cached):  # nothing cached is left in a session the caller keeps
        if df is not None:
            df.unpersist()
    _save_mllib(store, model)
    return test_metrics, {"format": "mllib", "estimator": model}


def early_stopping_info(spec: Spec, scheduler: Scheduler, rows: list[TrialResult], threads: int):
    es = spec.early_stopping
    if es is None or not isinstance(scheduler, ASHA):
        return None
    per_rung = [0] * len(scheduler.budgets)
    last: dict[str, TrialResult] = {}
    busy = 0.0
    for r in rows:
        per_rung[r.rung] += 1
        busy += (r.fit_seconds or 0.0) * threads
        if r.ok and (r.trial_id not in last or r.rung > last[r.trial_id].rung):
            last[r.trial_id] = r
    # what the same configurations would have cost at full budget: each one's last fit scaled to max
    full = sum((r.fit_seconds or 0.0) * threads * es.max / max(1, r.budget or es.max) for r in last.values())
    pruned = sum(1 for r in rows if r.decision == "prune")
    return EarlyStoppingInfo(type=es.type, resource=es.resource, min=es.min, max=es.max, reduction=es.reduction,
                             rungs=scheduler.budgets, per_rung=per_rung, pruned=pruned,
                             busy_core_seconds=round(busy, 3), full_budget_core_seconds_estimate=round(full, 3),
                             core_seconds_saved=round(full - busy, 3))


def stage_write(spark, spec: Spec, problem: Problem, splits: Splits, cluster: Cluster, scheduler: Scheduler,
                store: RunStore, best: TrialResult, test_metrics: dict, run_id: str, resumed: list,
                stats: LoopStats, shipping: dict, timings: dict, t0: float, t3: float, model_info: dict,
                data_input: str | None = None) -> RunSummary:
    prep = problem.prep
    single = spec.strategy in ("trials", "objective")
    resumed_keys = {r.key for r in resumed}
    ran = [r for r in store.rows if r.key not in resumed_keys]
    busy = sum((r.fit_seconds or 0.0) for r in ran) * spec.threads_per_trial
    available = timings.get("search", 0.0) * cluster.cores
    vers = versions(spark)
    refit_params = best_params_for_refit(spec, best)
    if model_info.get("format") is not None:  # objectives save no model
        manifest = {
            "model": spec.model, "task": prep.task, "params": refit_params, "cv_metric": problem.metric,
            "cv_score": best.mean, "test_metrics": test_metrics, "features": prep.features,
            "label": prep.label, "classes": prep.classes, "data_hash": prep.data_hash, "versions": vers,
            "run_id": run_id, "created_at": time.time(), "format": model_info["format"],
        }
        store.fs.write_bytes(store.rel("model/manifest.json"), (json.dumps(manifest, indent=2) + "\n").encode())
    timings["write"] = round(time.monotonic() - t3, 3)
    timings["total"] = round(time.monotonic() - t0 + timings.get("session", 0.0), 3)
    searcher = scheduler.searcher
    if prep is not None:
        data = DataInfo(uri=spec.dataset.uri, rows=prep.rows, dropped_rows=prep.dropped_rows, features=prep.features,
                        label=prep.label, classes=prep.classes, train_rows=splits.train_rows,
                        test_rows=splits.test_rows, hash=prep.data_hash, input=data_input)
    else:  # dataset.load: none: the objective read it
        data = DataInfo(uri=spec.dataset.uri, input="uri")
    summary = RunSummary(
        run_id=run_id, name=spec.name, output_uri=store.uri, model=spec.target,
        kind="objective" if spec.is_objective else "model",
        task=prep.task if prep is not None else (spec.task or "custom"),
        strategy=spec.strategy, metric=problem.metric, greater_is_better=problem.greater_is_better,
        search=SearchInfo(
            type=spec.search.type, trials=searcher.total, ran=len(ran), resumed=len(resumed),
            ok=sum(r.ok for r in store.rows), failed=sum(not r.ok for r in ran),
            cv_folds=None if spec.is_objective else spec.cv_folds,
            seed=spec.search.seed, configs=len({r.trial_id for r in store.rows}),
            settings={**searcher.settings(), "timeout_s": spec.search.timeout, "target": spec.search.target},
            stopped=stats.stopped),
        early_stopping=early_stopping_info(spec, scheduler, store.rows, spec.threads_per_trial),
        best=BestTrial(trial_id=best.trial_id, params=refit_params, cv_score=best.mean, cv_std=best.std,
                       fold_scores=best.fold_scores, budget=best.budget, metrics=best.metrics),
        best_params=refit_params, cv_score=best.mean, test_metrics=test_metrics,
        model_saved=model_info.get("format") is not None, data=data,
        cluster=ClusterInfo(master=spark.sparkContext.master if spark is not None else f"joblib[{cluster.cores}]",
                            executors=cluster.executors, cores=cluster.cores, slots=cluster.slots,
                            parallelism=cluster.parallelism, task_cpus=spec.threads_per_trial,
                            app_id=spark.sparkContext.applicationId if spark is not None else None),
        # one trial = one slot only for the single-machine strategy; concurrent MLlib fits share every
        # slot, so their summed fit times say nothing about idle cores
        cost=(CostInfo(busy_core_seconds=round(busy, 3), available_core_seconds=round(available, 3),
                       idle_slot_fraction=round(1 - busy / available, 4) if available > 0 else None)
              if single else CostInfo(note="not measured for MLlib (fits share all slots)")),
        shipping=shipping, timings=timings, versions=vers, spec_fingerprint=spec.fingerprint(),
        finished_at=time.time(),
    )
    store.write_json("summary.json", summary.model_dump(mode="json"))  # last: its presence = completed
    return summary


def _all_failed(rows: list[TrialResult]) -> str:
    errs = [r.error for r in rows if r.status == "error" and r.error]
    first = errs[0] if errs else "no trial finished"
    return f"every trial failed; first error: {first}"


def _too_many_failed(rows: list[TrialResult], fraction: float) -> str:
    failed = [r for r in rows if not r.ok]
    first = next((r.error for r in failed if r.error), "?")
    return (f"{len(failed)} of {len(rows)} trials failed, past max_failed_fraction {fraction}; "
            f"stopped; first error: {first}")


def _save_joblib(store: RunStore, blob: bytes) -> None:
    _save_model(store, lambda tmp: store.fs.write_bytes(store.rel(f"{tmp}/model.joblib"), blob))


def _save_mllib(store: RunStore, model) -> None:
    _save_model(store, lambda tmp: model.write().overwrite().save(store.fs.uri(store.rel(f"{tmp}/spark"))))


def _save_model(store: RunStore, write) -> None:
    """Write the model under a temporary dir, then rename it to ``model/``; a failure leaves neither."""
    tmp = f"model.tmp-{os.getpid()}"
    try:
        write(tmp)
        store.fs.rename_dir(store.rel(tmp), store.rel("model"))
    except BaseException:
        try:
            store.fs.delete(store.rel(tmp))
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        raise


# --------------------------------------------------------------------------- command line
