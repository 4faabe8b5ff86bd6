"""The Strategy contract: one home per kind of trial.

A strategy owns everything that differs between kinds of trial, so the pipeline in ``run.py`` is the same
for all of them and never asks "which kind is this?":

* ``load`` the data (to the driver, or as a Spark frame) and decide the task and the metric;
* ``split`` it (train/test, and the CV folds when the kind has folds);
* ``prestart`` Python workers while the driver loads (optional);
* choose, build and warm the ``executor`` that runs its trials;
* ``refit`` the winner and score it on the held-out split (or nothing to refit);
* describe the data (``data_info``), the cost (``cost``) and a few feature rows (``sample``) for the
  summary and the tracked model.

The kinds: ``estimator.py`` (single-machine libraries: scikit-learn, xgboost, lightgbm, any estimator),
``mllib.py`` (Spark MLlib) and ``objective.py`` (a user's training function). Adding one = a class here
plus a line in ``registry.py``.

:class:`TrialStrategy` is the shared base of the kinds whose trials run one per slot in a Python worker
(estimators and objectives): they pick a transport from :data:`TRANSPORTS` (the executor registry).
"""
from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

from hyperspark.errors import JobInputError, SpecError
from hyperspark.job import data as D
from hyperspark.job import metrics as M
from hyperspark.job import usercode as U
from hyperspark.job.context import Problem, Refit, Run, Splits
from hyperspark.job.executors.base import Executor
from hyperspark.job.executors.trial import TrialContext, check_on_executors
from hyperspark.job.protocol import CostInfo, DataInfo, TrialResult
from hyperspark.job.session import is_connect, total_cores, wait_for_executors
from hyperspark.job.spec import Spec


class Strategy(ABC):
    """One kind of trial (see the module docstring)."""

    kind: ClassVar[str]  # the summary's ``strategy``: trials | mllib | objective
    needs_spark: ClassVar[bool] = False  # True: there is no one-process (joblib) equivalent

    def __init__(self, spec: Spec):
        self.spec = spec

    @property
    def resource(self) -> str | None:
        """Early stopping's resource parameter (the budget a job sets), if any."""
        return self.spec.early_stopping.resource if self.spec.early_stopping else None

    def prestart(self, spark) -> threading.Thread | None:
        """Start workers in the background while the driver loads the data; None: nothing to start."""
        return None

    @abstractmethod
    def load(self, spark, frame=None) -> Problem:
        """Read and check the data set (or take ``frame``, a pandas DataFrame in the driver)."""

    @abstractmethod
    def split(self, run: Run) -> Splits:
        """Train/test split and, where the kind has them, the CV folds."""

    @abstractmethod
    def executor(self, run: Run) -> Executor:
        """Build the executor for this run's trials and warm it (timed as ``warmup``)."""

    @abstractmethod
    def refit(self, run: Run, params: dict) -> Refit:
        """Fit ``params`` on the whole training split, score the test split, save the model."""

    def sample(self, run: Run):
        """A few rows of features for a logged model's signature (None: no model)."""
        return None

    def data_info(self, run: Run) -> DataInfo:
        prep, splits, ds = run.problem.prep, run.splits, self.spec.dataset
        return DataInfo(uri=ds.uri, rows=prep.rows, dropped_rows=prep.dropped_rows, features=prep.features,
                        label=prep.label, classes=prep.classes, train_rows=splits.train_rows,
                        test_rows=splits.test_rows, hash=prep.data_hash, input=run.options.data_input)

    def cost(self, run: Run, ran: list[TrialResult]) -> CostInfo:
        """Busy vs available core-seconds of the search: one trial holds one slot of ``trial_cpus`` cores."""
        busy = sum((r.fit_seconds or 0.0) for r in ran) * self.spec.trial_cpus
        available = run.timings.get("search", 0.0) * run.cluster.cores
        return CostInfo(busy_core_seconds=round(busy, 3), available_core_seconds=round(available, 3),
                        idle_slot_fraction=round(1 - busy / available, 4) if available > 0 else None)


def check_metric(spec: Spec, prep, model_def) -> str:
    """The spec's metric (or the task's default), checked against the task; JobInputError otherwise."""
    if prep.task not in model_def.tasks():
        raise JobInputError(f"model {spec.model} does not support {prep.task} (label {prep.label!r})")
    metric = spec.primary_metric or default_metric(prep.task, prep.n_classes)
    if metric not in M.METRICS[prep.task]:
        raise JobInputError(f"metric {metric} does not apply to {prep.task}; "
                            f"use one of {', '.join(M.METRICS[prep.task])}")
    return metric


def default_metric(task: str, n_classes: int) -> str:
    if task == "regression":
        return "rmse"
    return "roc_auc" if n_classes == 2 else "f1"


# --------------------------------------------------------------------------- trials in Python workers
def _joblib(run: Run, ctx: TrialContext, payload: tuple) -> Executor:
    from hyperspark.job.executors.local import JoblibExecutor

    return JoblibExecutor(ctx, *payload, run.cluster.parallelism)


def _pull(run: Run, ctx: TrialContext, payload: tuple) -> Executor:
    from hyperspark.job.executors.pull import PullExecutor

    c = run.cluster
    return PullExecutor(run.spark, ctx, *payload, c.slots, 2 * c.parallelism, parallelism=c.parallelism,
                        profile=c.profile, trial_timeout=run.spec.trial_timeout, max_requeues=run.spec.max_requeues)


def _per_trial(run: Run, ctx: TrialContext, payload: tuple) -> Executor:
    from hyperspark.job.executors.per_trial import PerTrialExecutor

    c = run.cluster
    return PerTrialExecutor(run.spark, ctx, *payload, c.slots, 2 * c.parallelism, profile=c.profile)


def _replicate(run: Run, ctx: TrialContext, payload: tuple) -> Executor:
    from hyperspark.job.executors.replicate import ReplicateExecutor

    return ReplicateExecutor(run.spark, ctx, *payload, run.cluster.parallelism, slots=run.cluster.slots)


def _connect(run: Run, ctx: TrialContext, payload: tuple) -> Executor:
    from hyperspark.job.executors.connect import ConnectExecutor, data_dir_for

    c = run.cluster
    ex = ConnectExecutor(run.spark, ctx, payload, data_dir_for(run.store.uri), c.slots, 2 * c.parallelism)
    if ex.ref.path is not None:  # the summary says how the data travelled: its way in, then Parquet per worker
        run.options.data_input = f"{run.options.data_input or 'file'}+connect-parquet"
    return ex


#: transport name -> how to build its executor from (run, trial context, (X, y, folds))
TRANSPORTS: dict[str, Callable[[Run, TrialContext, tuple], Executor]] = {
    "joblib": _joblib, "pull": _pull, "per_trial": _per_trial, "replicate": _replicate, "connect": _connect,
}


def choose_transport(spark, spec: Spec, log: Callable[[str], Any] = print) -> str:
    """Which executor runs trials in Python workers: no Spark -> joblib; ``data_shipping: replicate``;
    else ``trial_tasks`` (pull, the default, falls back to per_trial when Spark encrypts its traffic:
    the trial tasks' own connection is authenticated, not encrypted)."""
    name = _transport(spark, spec, log)
    if spec.trial_timeout is not None and name != "pull":  # the pull driver keeps the time limit (pull.py)
        raise SpecError(f"trial_timeout needs transport pull (trial_tasks: pull on a classic SparkSession "
                        f"without spark.network.crypto.enabled); this run would use {name}")
    return name


def _transport(spark, spec: Spec, log: Callable[[str], Any]) -> str:
    if spark is None:
        return "joblib"
    if is_connect(spark):  # no SparkContext: trials as UDF work (the API refuses replicate in one line)
        return "connect"
    if spec.data_shipping == "replicate":
        return "replicate"
    if spec.trial_tasks == "pull":
        crypto = spark.sparkContext.getConf().get("spark.network.crypto.enabled", "false").lower() == "true"
        if not crypto:
            return "pull"
        log("hyperspark: spark.network.crypto.enabled is on and the trial tasks' own connection is "
            "authenticated but not encrypted: using trial_tasks: per_trial")
    return "per_trial"


class TrialStrategy(Strategy):
    """Trials that run one per slot in a Python worker, with the data on the driver (estimators, objectives)."""

    context_kind: ClassVar[str] = "model"  # TrialContext.kind

    def trial_context(self, task: str, metric: str, n_classes: int) -> TrialContext:
        s = self.spec
        # several objectives / constraints: what a model's trial measures besides its metric (job/costs.py)
        measure = tuple(n for n in s.measured_names if n != metric) if self.context_kind == "model" else ()
        return TrialContext(s.target, task, metric, s.trial_cpus, s.seed, n_classes, self.resource,
                            kind=self.context_kind, payload=U.payload(s.target),
                            gpus=s.resources.gpus if s.resources is not None else None, measure=measure,
                            model_choice=s.model_choice)

    @abstractmethod
    def payload(self, run: Run) -> tuple:
        """What every trial gets: (X, y, folds)."""

    def prestart_task(self) -> str:
        """The task whose class the prestart imports (the data is not loaded yet)."""
        return self.spec.task or "classification"

    def prestart(self, spark) -> threading.Thread | None:
        """Start every slot's Python worker and import the model library (or the user's code) NOW, in a
        background job, while the driver loads and splits the data: the later warm-up then only fetches
        the broadcast, in workers Spark reuses (``spark.python.worker.reuse``). Problems are ignored here:
        the warm-up reports an unimportable module in one line."""
        if spark is None or self.spec.data_shipping != "broadcast" or is_connect(spark):
            return None
        ctx = self.trial_context(self.prestart_task(), "", 0)
        threads = self.spec.trial_cpus

        def go() -> None:
            try:
                wait_for_executors(spark)
                slots = max(1, total_cores(spark) // threads)
                spark.sparkContext.setJobGroup("hyperspark-prestart", "hyperspark: start Python workers", True)
                check_on_executors(spark.sparkContext, ctx, slots)
            except Exception:  # noqa: BLE001 - best effort; warm-up checks again and reports
                pass

        t = threading.Thread(target=go, name="prestart", daemon=True)
        t.start()
        return t

    def executor(self, run: Run) -> Executor:
        p = run.problem
        task = p.task or self.spec.task or "custom"
        ctx = self.trial_context(task, p.metric, p.prep.n_classes if p.prep is not None else 0)
        transport = choose_transport(run.spark, self.spec, run.options.log)
        started = time.monotonic()
        ex = TRANSPORTS[transport](run, ctx, self.payload(run))
        try:
            ex.warm()
        except BaseException:
            ex.close()
            raise
        run.time("warmup", started)
        return ex

    def load_driver_frame(self, spark, frame):
        """The data set as a pandas DataFrame in the driver (single-machine trials need it there anyway)."""
        ds = self.spec.dataset
        pdf = frame if frame is not None else D.load_for_driver(spark, ds.uri, ds.resolved_format)
        return D.prepare_local(pdf, ds.label, ds.features, self.spec.task, ds.nan_policy)


def refit_threads() -> int:
    """The search is over: a refit on the driver may use the driver's cores."""
    return os.cpu_count() or 1
