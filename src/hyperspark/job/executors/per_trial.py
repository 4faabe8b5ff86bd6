"""``trial_tasks: per_trial``: the data broadcast ONCE, then one Spark job per trial.

Spark's torrent broadcast fetches the training set and fold indices once per executor, and the reused
Python worker keeps the unpickled value for every later trial there. Each trial is its own one-task Spark
job, submitted from a driver thread pool sized to the in-flight limit, so trials spread over all slots and
each result lands on the driver the moment it finishes. The base of the default, ``pull.py``; kept for
comparison and for clusters where executors cannot open a connection to the driver (or where Spark's
network crypto is on).

With ``resources`` (``profile``, see ``job/resources.py``) the warm-up and every trial's job run under the
task resource profile, so Spark places each trial where its cores and GPUs are free.
"""
from __future__ import annotations

import pickle

from hyperspark.job.executors.base import PoolExecutor, ShippingReport
from hyperspark.job.resources import TrialProfile, with_profile
from hyperspark.job.executors.trial import TrialContext, run_broadcast_trial, warm_worker, raise_import_problems
from hyperspark.job.search.scheduler import Job


class PerTrialExecutor(PoolExecutor):
    """Broadcast once, warm every slot (timed as ``warmup``), then one Spark job per trial."""

    def __init__(self, spark, ctx: TrialContext, X, y, folds, slots: int, in_flight: int,
                 profile: TrialProfile | None = None):
        super().__init__(in_flight, "trial")
        self.profile = profile
        self.sc = spark.sparkContext
        self.ctx = ctx
        payload = (X, y, folds)
        self.payload_bytes = len(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        self.bc = self.sc.broadcast(payload)
        self.slots = slots

    transport = "per_trial"

    def warm(self) -> list:
        """One task per slot loads the broadcast and imports the library (timed as its own phase); a
        module an executor cannot import raises JobInputError naming the module and the executor."""
        ctx, bc = self.ctx, self.bc
        return raise_import_problems(ctx, self.tasks(self.slots).mapPartitions(
            lambda it: warm_worker(ctx, bc, it)).collect())

    def tasks(self, n: int):
        """An RDD of ``n`` one-element partitions, under the trial profile when there is one."""
        return with_profile(self.sc.parallelize(range(n), n), self.profile)

    def _run(self, job: Job) -> dict:
        ctx, bc = self.ctx, self.bc
        params, budget, key = job.config.params, job.budget, job.key
        self.sc.setJobGroup(f"trial-{job.config.trial_id}-{job.rung}", f"hyperspark trial {params}", True)
        return self.tasks(1).map(lambda _: run_broadcast_trial(ctx, bc, params, budget, key)).collect()[0]

    def close(self) -> None:
        super().close()
        self.bc.unpersist()

    def report(self) -> ShippingReport:
        n = len(self.slots_seen)
        return ShippingReport("broadcast", self.transport, self.payload_bytes, n, self.payload_bytes * n,
                              sorted(self.slots_seen))
