"""``joblib``: no Spark. ``n_jobs`` local worker processes (joblib's loky), the data sent once per process.

The bench's one-machine baseline runs the job's own pipeline (``run.run`` with ``spark=None``) through
this executor, so the comparison is the same trials on the same folds.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import Future

from hyperspark.errors import JobInputError
from hyperspark.job.executors.base import Executor, ShippingReport
from hyperspark.job.executors.trial import TrialContext, evaluate, preload
from hyperspark.job.search.scheduler import Job

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


def _joblib_run(params: dict, budget: int | None, key: tuple | None = None) -> dict:
    ctx, X, y, folds = _WORKER_DATA
    return evaluate(ctx, params, budget, X, y, folds, key)


class JoblibExecutor(Executor):
    """No Spark: ``n_jobs`` local worker processes (joblib's loky), the data sent once per process.
    The bench's one-machine baseline runs the job's own pipeline through this executor."""

    transport = "joblib"

    def __init__(self, ctx: TrialContext, X, y, folds, n_jobs: int):
        from joblib.externals.loky import get_reusable_executor

        self.n_jobs = n_jobs
        self._pool = get_reusable_executor(max_workers=n_jobs, initializer=_joblib_init,
                                           initargs=(ctx, X, y, folds), reuse=False)

    def warm(self) -> list:
        """Start the worker processes and import the model library (timed as ``warmup``, as on Spark)."""
        return list(self._pool.map(_joblib_warm, range(self.n_jobs)))

    def submit(self, job: Job) -> Future:
        return self._pool.submit(_joblib_run, job.config.params, job.budget, job.key)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def report(self) -> ShippingReport:
        return ShippingReport("joblib", self.transport, note=f"{self.n_jobs} local processes, data sent once each")
