"""What runs INSIDE a trial, on an executor's Python worker (or a joblib worker): the trial's context,
fitting and scoring one configuration over the folds, calling an objective, the warm-up and import checks.

Every executor runs trials through :func:`evaluate`; they differ only in how a trial and its data get to
the worker (see ``executors/base.py``).

Failures: an exception raised by the MODEL (bad param combination, library error) is caught inside the
task and recorded as ``status: error`` once. It is never retried, so ``spark.task.maxFailures`` only ever
reruns a trial whose executor was lost (infrastructure), not a user error.

Objectives (``objective: module:function``) take the same path: the data is an :class:`ObjectiveData`
(X, y of the train split) or the data set's URI (``dataset.load: none``), and a job calls the function
once with its budget; its ``report(step, score)`` calls land in ``intermediate``. User code (import
paths, or objects shipped as cloudpickle bytes in the context) is imported by every Python worker during
warm-up: a module an executor cannot import fails the run before the search.

Resources (``resources: {cpus, gpus}``, ``job/resources.py``): the trial's model threads are ``cpus``
(``ctx.threads``); with ``gpus`` > 0 the task's GPU addresses (``TaskContext.resources()["gpu"]``) are put in
``CUDA_VISIBLE_DEVICES`` before the model or objective is built and the old value is put back afterwards (a
reused Python worker never leaks one trial's devices to the next); registry models that can use a GPU get
their GPU params; an objective that names a ``trial`` parameter gets a :class:`TrialInfo`. A row of a run
with ``resources`` records the request (``resources``) and the addresses it held (``devices``).
A framework reads ``CUDA_VISIBLE_DEVICES`` once, when it first initializes CUDA in a process: a pull task
(the default) keeps its Python worker and its addresses for the whole search, so this holds per search;
one-trial jobs (``trial_tasks: per_trial``) may reuse a worker that saw another address.
"""
from __future__ import annotations

import contextlib
import io
import os
import socket
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from hyperspark.errors import JobInputError
from hyperspark.job import costs, families
from hyperspark.job import metrics as M
from hyperspark.job import usercode as U
from hyperspark.job.models import build_single_machine, get_model


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
    gpus: float | None = None  # resources.gpus; None: the spec has no resources (rows record none)
    measure: tuple = ()  # several objectives / constraints: other metrics and costs to record (job/costs.py)
    model_choice: bool = False  # model: {choice: ...}: each configuration's ``model`` param is its family


@dataclass(frozen=True)
class TrialInfo:
    """What an objective that names a ``trial`` parameter receives: its devices and its identity.

    ``gpus``: the GPU addresses this trial holds (also in ``CUDA_VISIBLE_DEVICES``; [] without GPUs);
    ``cpus``: its cores (its threads); ``trial_id``/``rung``/``budget``: which evaluation this is."""

    trial_id: str | None
    rung: int
    budget: int | None
    cpus: int
    gpus: list = field(default_factory=list)


CUDA_ENV = "CUDA_VISIBLE_DEVICES"


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
def fit_and_score(ctx: TrialContext, params: dict, X, y, folds, measured: list | None = None) -> list[float]:
    """k-fold CV of one parameter set. Pure: the same numbers as GridSearchCV on the same folds.
    ``measured`` receives, per fold, what ``ctx.measure`` names (``job/costs.py``)."""
    key, params = families.pick(params, ctx.model, ctx.model_choice)  # a choice of families: this one's
    m = get_model(key)
    scores = []
    for tr, va in folds:
        est = build_single_machine(m, ctx.task, params, ctx.threads, ctx.seed, gpu=bool(ctx.gpus))
        t = time.perf_counter()
        est.fit(X[tr], y[tr])
        fit_s = time.perf_counter() - t
        scores.append(_score(ctx, est, X[va], y[va]))
        if measured is not None and ctx.measure:
            measured.append(costs.measure(ctx.measure, est, X[va], y[va], fit_s, ctx.n_classes, predict_scores))
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


def run_objective(ctx: TrialContext, params: dict, budget: int | None, data, trial: TrialInfo | None = None) -> dict:
    """Call the objective once; its score, extra metrics and reported intermediate scores."""
    U.ensure(ctx.model, ctx.payload)
    fn = U.objective_function(ctx.model)
    steps: list[tuple[int, float]] = []

    def report(step, score) -> None:
        steps.append((int(step), float(score)))

    score, extra = U.objective_score(U.call_objective(fn, dict(params), data, budget, report, trial))
    return {"fold_scores": [], "mean": score, "std": None, "metrics": extra, "intermediate": steps}


def evaluate(ctx: TrialContext, params: dict, budget: int | None, X, y, folds,
             key: tuple[str, int] | None = None) -> dict:
    """One job -> the executor's half of a result row. Model and objective errors (an exception, a score
    that is not a number) become ``status: error``, recorded once, never retried. ``key``: the job's
    (trial_id, rung), for an objective's ``trial`` argument."""
    started, cpu0 = time.time(), time.process_time()
    eid, host = executor_identity()
    row = {"executor_id": eid, "host": host, "pid": os.getpid(), "slot": f"{host}/{eid}", "started_at": started}
    devices = task_gpus() if ctx.gpus else []
    if ctx.gpus is not None:
        row.update(resources={"cpus": ctx.threads, "gpus": ctx.gpus}, devices=devices)
        if devices:  # the report's timeline draws one lane per device
            row["slot"] = f"{host}/{eid}/gpu{','.join(devices)}"
    try:
        with _thread_limits(ctx.threads), gpu_env(devices if ctx.gpus else None):
            if ctx.kind == "objective":
                info = TrialInfo(key[0] if key else None, key[1] if key else 0, budget, ctx.threads, list(devices))
                row.update(status="ok", **run_objective(ctx, params, budget, X, info))
            else:
                U.ensure(ctx.model, ctx.payload)
                measured: list = []
                scores = fit_and_score(ctx, job_params(ctx, params, budget), X, y, folds, measured)
                row.update(status="ok", fold_scores=scores, mean=float(np.mean(scores)),
                           std=float(np.std(scores)), metrics=costs.mean(measured))
    except Exception as e:  # noqa: BLE001 - a user/model error, recorded once and not retried
        row.update(status="error", error=f"{type(e).__name__}: {e}"[:500],
                   traceback=traceback.format_exc(limit=3)[-1500:], fold_scores=[], mean=None, std=None)
    ended = time.time()
    row.update(ended_at=ended, fit_seconds=round(ended - started, 4),
               cpu_seconds=round(time.process_time() - cpu0, 4))
    return row


def task_gpus() -> list[str]:
    """The GPU addresses Spark gave the running task ([] outside a task, or without GPUs)."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return []
    tc = TaskContext.get()
    info = tc.resources().get("gpu") if tc is not None else None
    return [str(a) for a in info.addresses] if info is not None else []


@contextlib.contextmanager
def gpu_env(addresses: list[str] | None):
    """``CUDA_VISIBLE_DEVICES`` = the trial's addresses while it runs, then as it was (unset if it was);
    None leaves the environment alone (a trial without resources.gpus)."""
    if addresses is None:
        yield
        return
    before = os.environ.get(CUDA_ENV)
    os.environ[CUDA_ENV] = ",".join(addresses)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CUDA_ENV, None)
        else:
            os.environ[CUDA_ENV] = before


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


def run_broadcast_trial(ctx, bc, params, budget, key=None) -> dict:
    X, y, folds = bc.value
    return evaluate(ctx, params, budget, X, y, folds, key)


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


def warm_worker(ctx: TrialContext, bc, _):
    """Load the broadcast and the model library in every Python worker before the clock starts."""
    eid, host = executor_identity()
    problem = preload(ctx)  # before the broadcast: an unimportable class inside it would fail to unpickle
    if problem is not None:
        return [(eid, host, -1, problem)]
    X, _y, _f = bc.value
    return [(eid, host, int(len(X) if hasattr(X, "__len__") else 0), None)]


def check_worker(ctx: TrialContext, _):
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
    return raise_import_problems(ctx, sc.parallelize(range(n), n).mapPartitions(lambda it: check_worker(ctx, it)).collect())



def dumps_model(est) -> bytes:
    import joblib

    buf = io.BytesIO()
    joblib.dump(est, buf)
    return buf.getvalue()
