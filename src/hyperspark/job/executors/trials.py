"""Executors for single-machine libraries (scikit-learn, xgboost, lightgbm): one Spark task per trial.

An executor runs one job, a (params, budget), and returns its result row; the searcher, the scheduler
(ASHA) and the in-flight loop (``dispatch.py``) decide what runs. Executors here: broadcast (default),
replicate (the blog post's approach, for comparison) and joblib (one process, no Spark: the bench's
baseline). The MLlib executor is in ``mllib.py``.

``broadcast`` (default): the training set and the fold indices are broadcast ONCE. Spark's torrent
broadcast fetches it once per executor, and the reused Python worker keeps the unpickled value for every
later trial on that executor. Each trial is its own one-task Spark job, submitted from a driver thread
pool sized to the in-flight limit, so trials spread over all slots, one per slot at a time, and each
result lands on the driver the moment it finishes (progress, trials.jsonl, resume).

``replicate``: the approach of the well-known blog post, kept for comparison: crossJoin the data with the
trial and ``groupBy(trial).applyInPandas``. The whole data set is shuffled once PER TRIAL.

Failures: an exception raised by the MODEL (bad param combination, library error) is caught inside the
task and recorded as ``status: error`` once. It is never retried, so ``spark.task.maxFailures`` only ever
reruns a trial whose executor was lost (infrastructure), not a user error.

Objectives (``objective: module:function``) run through the same executors: the broadcast carries an
:class:`ObjectiveData` (X, y of the train split) or the data set's URI (``dataset.load: none``), and a job
calls the function once with its budget; its ``report(step, score)`` calls land in ``intermediate``.
User code (import paths, or objects shipped as cloudpickle bytes in the context) is imported by every
Python worker during warm-up: a module an executor cannot import fails the run before the search.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import socket
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from hyperspark.job import metrics as M
from hyperspark.job import usercode as U
from hyperspark.errors import JobInputError
from hyperspark.job.models import build_single_machine, get_model
from hyperspark.job.search.scheduler import Job


@dataclass(frozen=True)
class TrialContext:
    model: str  # registry key, import path or object key; for objectives the objective's path/key
    task: str
    metric: str
    threads: int
    seed: int
    n_classes: int
    resource: str | None = None  # early stopping: the param that takes a job's budget
    kind: str = "model"  # model | objective
    payload: bytes | None = None  # cloudpickle bytes of an object passed to the Python API


@dataclass
class ObjectiveData:
    """What an objective's ``data`` is for a CSV/Parquet data set: the train split as numpy arrays."""

    X: np.ndarray
    y: np.ndarray
    features: list
    label: str
    task: str
    classes: list = field(default_factory=list)

    def __repr__(self) -> str:
        return f"ObjectiveData(X={self.X.shape}, y={self.y.shape}, label={self.label!r}, task={self.task})"


def job_params(ctx: TrialContext, params: dict, budget: int | None) -> dict:
    """The params a job trains with: the configuration plus its budget on the resource parameter."""
    if budget is None or ctx.resource is None:
        return dict(params)
    return {**params, ctx.resource: int(budget)}


# --------------------------------------------------------------------------- pure, runs on executors
def fit_and_score(ctx: TrialContext, params: dict, X, y, folds) -> list[float]:
    """k-fold CV of one parameter set. Pure: the same numbers as GridSearchCV on the same folds."""
    m = get_model(ctx.model)
    scores = []
    for tr, va in folds:
        est = build_single_machine(m, ctx.task, params, ctx.threads, ctx.seed)
        est.fit(X[tr], y[tr])
        scores.append(_score(ctx, est, X[va], y[va]))
    return scores


def _score(ctx: TrialContext, est, X, y) -> float:
    y_score = None
    if M.needs_scores(ctx.metric):
        y_score = predict_scores(est, X, ctx.n_classes)
        return M.score(ctx.metric, y, None, y_score, ctx.n_classes)
    return M.score(ctx.metric, y, est.predict(X), None, ctx.n_classes)


def predict_scores(est, X, n_classes: int):
    """P(positive) for binary, (n, k) probabilities for multiclass; decision_function as a fallback
    (as scikit-learn's 'roc_auc' scorer does)."""
    if hasattr(est, "predict_proba"):
        try:
            p = est.predict_proba(X)
            return p[:, 1] if n_classes == 2 else p
        except AttributeError:  # e.g. SVC(probability=False) exposes the attribute but refuses
            pass
    return est.decision_function(X)


def executor_identity() -> tuple[str, str]:
    """(executor id, host). A standalone executor runs in ``<work>/app-*/<executor id>/`` and its Python
    workers inherit that working directory; elsewhere (local[N], driver) we report ``driver``."""
    cwd = os.getcwd()
    parent = os.path.basename(os.path.dirname(cwd))
    eid = os.path.basename(cwd) if parent.startswith("app-") else "driver"
    return eid, socket.gethostname()


def run_objective(ctx: TrialContext, params: dict, budget: int | None, data) -> dict:
    """Call the objective once; its score, extra metrics and reported intermediate scores."""
    U.ensure(ctx.model, ctx.payload)
    fn = U.objective_function(ctx.model)
    steps: list[tuple[int, float]] = []

    def report(step, score) -> None:
        steps.append((int(step), float(score)))

    score, extra = U.objective_score(U.call_objective(fn, dict(params), data, budget, report))
    return {"fold_scores": [], "mean": score, "std": None, "metrics": extra, "intermediate": steps}


def evaluate(ctx: TrialContext, params: dict, budget: int | None, X, y, folds) -> dict:
    """One job -> the executor's half of a result row. Model and objective errors (an exception, a score
    that is not a number) become ``status: error``, recorded once, never retried."""
    started, cpu0 = time.time(), time.process_time()
    eid, host = executor_identity()
    row = {"executor_id": eid, "host": host, "pid": os.getpid(), "slot": f"{host}/{eid}", "started_at": started}
    try:
        with _thread_limits(ctx.threads):
            if ctx.kind == "objective":
                row.update(status="ok", **run_objective(ctx, params, budget, X))
            else:
                U.ensure(ctx.model, ctx.payload)
                scores = fit_and_score(ctx, job_params(ctx, params, budget), X, y, folds)
                row.update(status="ok", fold_scores=scores, mean=float(np.mean(scores)),
                           std=float(np.std(scores)))
    except Exception as e:  # noqa: BLE001 - a user/model error, recorded once and not retried
        row.update(status="error", error=f"{type(e).__name__}: {e}"[:500],
                   traceback=traceback.format_exc(limit=3)[-1500:], fold_scores=[], mean=None, std=None)
    ended = time.time()
    row.update(ended_at=ended, fit_seconds=round(ended - started, 4),
               cpu_seconds=round(time.process_time() - cpu0, 4))
    return row


_POOLS: tuple[int, object] | None = None


def _thread_limits(n: int):
    """threadpoolctl's limit on the native thread pools (BLAS, OpenMP) for one trial. Finding the pools
    scans every loaded shared library (~4 ms, half of a null trial's CPU), so the controller is kept per
    process and rebuilt only when modules were imported since (a new one may bring a new pool)."""
    import sys

    from threadpoolctl import ThreadpoolController

    global _POOLS
    if _POOLS is None or _POOLS[0] != len(sys.modules):
        _POOLS = (len(sys.modules), ThreadpoolController())
    return _POOLS[1].limit(limits=n)


def _run_one_broadcast(ctx, bc, params, budget) -> dict:
    X, y, folds = bc.value
    return evaluate(ctx, params, budget, X, y, folds)


def preload(ctx: TrialContext) -> str | None:
    """Import the model library / the user's code in this Python worker (paid here, not by trial 1).
    None when fine, else one line naming the module that could not be imported."""
    if ctx.kind == "objective" or U.is_user_code(ctx.model):
        return U.preload(ctx.model, ctx.payload)
    from hyperspark.job.models import load_class

    try:
        load_class(get_model(ctx.model).class_path(ctx.task))
    except ImportError as e:
        return f"module {getattr(e, 'name', None) or '?'!r} is not importable ({e})"
    return None


def _warm(ctx: TrialContext, bc, _):
    """Load the broadcast and the model library in every Python worker before the clock starts."""
    eid, host = executor_identity()
    problem = preload(ctx)  # before the broadcast: an unimportable class inside it would fail to unpickle
    if problem is not None:
        return [(eid, host, -1, problem)]
    X, _y, _f = bc.value
    return [(eid, host, int(len(X) if hasattr(X, "__len__") else 0), None)]


def _check(ctx: TrialContext, _):
    eid, host = executor_identity()
    return [(eid, host, 0, preload(ctx))]


def raise_import_problems(ctx: TrialContext, results: list) -> list:
    """Warm-up/check results -> JobInputError (one line naming module and executor) on the first problem."""
    for eid, host, _n, problem in results:
        if problem is not None:
            what = "objective" if ctx.kind == "objective" else "model"
            name = ctx.model
            raise JobInputError(f"{what} {name}: {problem} on executor {eid} ({host}); "
                                "ship it with --py-files or --package")
    return results


def check_on_executors(sc, ctx: TrialContext, tasks: int) -> list:
    """One task per slot imports the user's code: fail fast, before any trial, with one line."""
    n = max(1, tasks)
    return raise_import_problems(ctx, sc.parallelize(range(n), n).mapPartitions(lambda it: _check(ctx, it)).collect())


# --------------------------------------------------------------------------- driver side
@dataclass
class ShippingReport:
    strategy: str
    payload_bytes: int  # one copy of the training data + folds, pickled
    copies: int  # how many times it crossed the network (executors, or trials)
    bytes_shipped: int
    executors: list[str]
    measured: dict = field(default_factory=dict)  # Spark's own counters where available (shuffle bytes)


class _PoolExecutor:
    """A driver thread per in-flight job; each thread blocks on its own one-task Spark job."""

    def __init__(self, in_flight: int, name: str):
        self._pool = ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix=name)
        self.slots_seen: set[str] = set()
        self.jobs = 0

    def submit(self, job: Job) -> Future:
        self.jobs += 1
        fut = self._pool.submit(self._run, job)
        fut.add_done_callback(self._seen)
        return fut

    def _seen(self, fut: Future) -> None:
        if not fut.cancelled() and fut.exception() is None:
            r = fut.result()
            self.slots_seen.add(f"{r.get('host')}/{r.get('executor_id')}")

    def _run(self, job: Job) -> dict:
        raise NotImplementedError

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class BroadcastExecutor(_PoolExecutor):
    """Broadcast once, warm every slot (timed as ``warmup``), then one Spark job per trial."""

    def __init__(self, spark, ctx: TrialContext, X, y, folds, slots: int, in_flight: int):
        super().__init__(in_flight, "trial")
        self.sc = spark.sparkContext
        self.ctx = ctx
        payload = (X, y, folds)
        self.payload_bytes = len(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        self.bc = self.sc.broadcast(payload)
        self.slots = slots

    def warm(self) -> list:
        """One task per slot loads the broadcast and imports the library (timed as its own phase); a
        module an executor cannot import raises JobInputError naming the module and the executor."""
        ctx, bc = self.ctx, self.bc
        return raise_import_problems(ctx, self.sc.parallelize(range(self.slots), self.slots).mapPartitions(
            lambda it: _warm(ctx, bc, it)).collect())

    def _run(self, job: Job) -> dict:
        ctx, bc = self.ctx, self.bc
        params, budget = job.config.params, job.budget
        self.sc.setJobGroup(f"trial-{job.config.trial_id}-{job.rung}", f"hyperspark trial {params}", True)
        return self.sc.parallelize([0], 1).map(lambda _: _run_one_broadcast(ctx, bc, params, budget)).collect()[0]

    def close(self) -> None:
        super().close()
        self.bc.unpersist()

    def report(self) -> ShippingReport:
        n = len(self.slots_seen)
        return ShippingReport("broadcast", self.payload_bytes, n, self.payload_bytes * n, sorted(self.slots_seen))


class ReplicateExecutor(_PoolExecutor):
    """The crossJoin + groupBy(trial).applyInPandas baseline: one copy of the data per trial."""

    def __init__(self, spark, ctx: TrialContext, X, y, folds, in_flight: int):
        import pandas as pd

        super().__init__(in_flight, "replicate")
        self.spark, self.ctx, self.k = spark, ctx, len(folds)
        fold_of = np.empty(len(y), dtype=np.int32)
        for k, (_tr, va) in enumerate(folds):
            fold_of[va] = k
        self.cols = [f"f{i}" for i in range(X.shape[1])]
        pdf = pd.DataFrame(X, columns=self.cols)
        pdf["__y"] = y
        pdf["__i"] = np.arange(len(y), dtype=np.int64)
        pdf["__fold"] = fold_of
        self.payload_bytes = int(pdf.memory_usage(index=False).sum())
        self.data_df = spark.createDataFrame(pdf)

    def _run(self, job: Job) -> dict:
        import pandas as pd

        ctx, cols, k = self.ctx, self.cols, self.k
        trial_df = self.spark.createDataFrame(
            [(job.config.trial_id, json.dumps(job.config.params), job.budget)],
            "trial_id string, params string, budget int")

        def per_trial(group: pd.DataFrame) -> pd.DataFrame:
            g = group.sort_values("__i")
            Xg = g[cols].to_numpy(dtype=np.float64)
            yg = g["__y"].to_numpy()
            fo = g["__fold"].to_numpy()
            idx = np.arange(len(g))
            fl = [(idx[fo != j].astype(np.int32), idx[fo == j].astype(np.int32)) for j in range(k)]
            b = g["budget"].iloc[0]
            row = evaluate(ctx, json.loads(g["params"].iloc[0]), None if pd.isna(b) else int(b), Xg, yg, fl)
            return pd.DataFrame({"row": [json.dumps(row)]})

        sc = self.spark.sparkContext
        sc.setJobGroup(f"replicate-{job.config.trial_id}-{job.rung}", "hyperspark replicate trial", True)
        # one trial -> one group -> one non-empty shuffle partition -> one task doing the work
        out = (self.data_df.crossJoin(trial_df).groupBy("trial_id")
               .applyInPandas(per_trial, "row string").collect())
        return json.loads(out[0]["row"])

    def report(self) -> ShippingReport:
        return ShippingReport("replicate", self.payload_bytes, self.jobs, self.payload_bytes * self.jobs,
                              sorted(self.slots_seen), _shuffle_bytes(self.spark))


_WORKER_DATA: tuple | None = None


def _joblib_init(ctx, X, y, folds) -> None:
    global _WORKER_DATA
    _WORKER_DATA = (ctx, X, y, folds)


def _joblib_warm(_i: int) -> int:
    ctx = _WORKER_DATA[0]
    problem = preload(ctx)
    if problem is not None:
        raise JobInputError(f"{ctx.kind} {ctx.model}: {problem} in a joblib worker")
    time.sleep(0.05)  # keep this worker busy so the next warm-up task lands on another one
    return os.getpid()


def _joblib_run(params: dict, budget: int | None) -> dict:
    ctx, X, y, folds = _WORKER_DATA
    return evaluate(ctx, params, budget, X, y, folds)


class JoblibExecutor:
    """No Spark: ``n_jobs`` local worker processes (joblib's loky), the data sent once per process.
    The bench's one-machine baseline runs the job's own pipeline through this executor."""

    def __init__(self, ctx: TrialContext, X, y, folds, n_jobs: int):
        from joblib.externals.loky import get_reusable_executor

        self.n_jobs = n_jobs
        self._pool = get_reusable_executor(max_workers=n_jobs, initializer=_joblib_init,
                                           initargs=(ctx, X, y, folds), reuse=False)

    def warm(self) -> list:
        """Start the worker processes and import the model library (timed as ``warmup``, as on Spark)."""
        return list(self._pool.map(_joblib_warm, range(self.n_jobs)))

    def submit(self, job: Job) -> Future:
        return self._pool.submit(_joblib_run, job.config.params, job.budget)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _shuffle_bytes(spark) -> dict:
    """Spark's own shuffle-write counter for this application (driver UI REST API), if the UI is on."""
    import urllib.request

    sc = spark.sparkContext
    url = sc.uiWebUrl
    if not url:
        return {}
    try:
        with urllib.request.urlopen(f"{url}/api/v1/applications/{sc.applicationId}/stages", timeout=5) as r:
            stages = json.load(r)
        return {"shuffle_write_bytes": int(sum(s.get("shuffleWriteBytes", 0) for s in stages))}
    except Exception:  # noqa: BLE001 - a missing counter is reported as absent, never fatal
        return {}


def dumps_model(est) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(est, buf)
    return buf.getvalue()
