"""``mllib``: k-fold cross-validation over MLlib param maps, ``parallelism`` trials at once.

This is CrossValidator's algorithm (a ``rand(seed)`` fold column, fit on k-1 folds, evaluate on the
held-out fold, average) written out so that each trial's fold scores reach the driver, progress and
trials.jsonl the moment that trial ends, and a rerun resumes. The data stays distributed: the folds are
cached on the executors (``job/mllib.py``), and every fit is spread over the whole cluster.
"""
from __future__ import annotations

import time

import numpy as np

from hyperspark.job import metrics as M
from hyperspark.job.executors.base import PoolExecutor, ShippingReport
from hyperspark.job.mllib import FEATURES, MLlibContext
from hyperspark.job.models import build_mllib, get_model, mllib_param_map
from hyperspark.job.protocol import one_line
from hyperspark.job.search.scheduler import Job


class MLlibExecutor(PoolExecutor):
    """One job = k fits of one param map (its budget set on the resource param, e.g. numTrees or
    maxIter); ``parallelism`` jobs run at once from driver threads, each fit spread over the cluster."""

    transport = "mllib"

    def __init__(self, spark, ctx: MLlibContext, folds, parallelism: int):
        super().__init__(parallelism, "mllib-trial")
        self.sc = spark.sparkContext
        self.m = get_model(ctx.model)
        self.task, self.seed, self.label, self.folds, self.resource = ctx.task, ctx.seed, ctx.label, folds, ctx.resource
        self.evaluator = M.build_mllib_evaluator(M.mllib_evaluator_spec(ctx.metric, ctx.n_classes), ctx.label)

    def _run(self, job: Job) -> dict:
        params = dict(job.config.params)
        if job.budget is not None and self.resource:
            params[self.resource] = int(job.budget)
        self.sc.setJobGroup(f"trial-{job.config.trial_id}-{job.rung}", f"hyperspark mllib trial {params}", True)
        started = time.time()
        row = {"executor_id": "cluster", "host": "cluster", "slot": "cluster", "started_at": started}
        try:
            est = build_mllib(self.m, self.task, self.seed, FEATURES, self.label)
            pm = mllib_param_map(est, params)
            scores = []
            for tr, va in self.folds:
                model = est.fit(tr, pm)
                scores.append(float(self.evaluator.evaluate(model.transform(va))))
            row.update(status="ok", fold_scores=scores, mean=float(np.mean(scores)), std=float(np.std(scores)))
        except Exception as e:  # noqa: BLE001 - bad param values etc.: recorded once
            row.update(status="error", error=one_line(f"{type(e).__name__}: {one_line(e)}", 500), fold_scores=[],
                       mean=None, std=None)
        ended = time.time()
        row.update(ended_at=ended, fit_seconds=round(ended - started, 4))
        return row

    def report(self) -> ShippingReport:
        return ShippingReport("mllib", self.transport, note="data stays distributed; folds cached on executors")
