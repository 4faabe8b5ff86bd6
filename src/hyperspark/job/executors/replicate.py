"""``data_shipping: replicate``: the well-known blog post's approach, kept for comparison.

crossJoin the data with the trial and ``groupBy(trial).applyInPandas``: the whole data set is shuffled
once PER TRIAL (and loaded as one Arrow batch per group). ``report()`` carries Spark's own shuffle-write
counter, so the cost shows in the summary.
"""
from __future__ import annotations

import json

import numpy as np

from hyperspark.job.executors.base import PoolExecutor, ShippingReport
from hyperspark.job import usercode as U
from hyperspark.job.executors.trial import TrialContext, check_on_executors, evaluate
from hyperspark.job.search.scheduler import Job


class ReplicateExecutor(PoolExecutor):
    """The crossJoin + groupBy(trial).applyInPandas baseline: one copy of the data per trial."""

    transport = "replicate"

    def __init__(self, spark, ctx: TrialContext, X, y, folds, in_flight: int, slots: int = 1):
        import pandas as pd

        super().__init__(in_flight, "replicate")
        self.spark, self.ctx, self.k, self.slots = spark, ctx, len(folds), slots
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

    def warm(self) -> None:
        """User code is imported by one task per slot first: a missing module is one line, not N failed
        trials (library models import in the trial itself: the data travels with every trial anyway)."""
        if U.is_user_code(self.ctx.model):
            check_on_executors(self.spark.sparkContext, self.ctx, self.slots)

    def _run(self, job: Job) -> dict:
        import pandas as pd

        ctx, cols, k, key = self.ctx, self.cols, self.k, job.key
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
            row = evaluate(ctx, json.loads(g["params"].iloc[0]), None if pd.isna(b) else int(b), Xg, yg, fl, key)
            return pd.DataFrame({"row": [json.dumps(row)]})

        sc = self.spark.sparkContext
        sc.setJobGroup(f"replicate-{job.config.trial_id}-{job.rung}", "hyperspark replicate trial", True)
        # one trial -> one group -> one non-empty shuffle partition -> one task doing the work
        out = (self.data_df.crossJoin(trial_df).groupBy("trial_id")
               .applyInPandas(per_trial, "row string").collect())
        return json.loads(out[0]["row"])

    def report(self) -> ShippingReport:
        return ShippingReport("replicate", self.transport, self.payload_bytes, self.jobs,
                              self.payload_bytes * self.jobs, sorted(self.slots_seen), _shuffle_bytes(self.spark))



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
