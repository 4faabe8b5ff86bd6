"""Single-machine libraries (scikit-learn, xgboost, lightgbm): one Spark task per trial.

``broadcast`` (default): the training set and the fold indices are broadcast ONCE. Spark's torrent
broadcast fetches it once per executor, and the reused Python worker keeps the unpickled value for every
later trial on that executor. Each trial is its own one-task Spark job, submitted from a driver thread
pool sized to the executor slots, so trials spread over all slots, one per slot at a time, and each
result lands on the driver the moment it finishes (progress, trials.jsonl, resume).

``replicate``: the approach of the well-known blog post, kept for comparison: crossJoin the data with the
trials and ``groupBy(trial).applyInPandas``. The whole data set is shuffled once PER TRIAL, and results
arrive only when the single job ends.

Failures: an exception raised by the MODEL (bad param combination, library error) is caught inside the
task and recorded as ``status: error`` once. It is never retried, so ``spark.task.maxFailures`` only ever
reruns a trial whose executor was lost (infrastructure), not a user error.
"""
from __future__ import annotations

import io
import os
import pickle
import socket
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import metrics as M
from .models import build_single_machine, get_model
from .space import Trial


@dataclass(frozen=True)
class TrialContext:
    model: str
    task: str
    metric: str
    threads: int
    seed: int
    n_classes: int


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


def evaluate(ctx: TrialContext, trial: Trial, X, y, folds) -> dict:
    """One trial -> one result row. Model errors become ``status: error`` (no Spark retry)."""
    from threadpoolctl import threadpool_limits

    started = time.time()
    eid, host = executor_identity()
    row = {"trial_id": trial.trial_id, "params": trial.params, "executor_id": eid, "host": host,
           "pid": os.getpid(), "started_at": started}
    try:
        with threadpool_limits(limits=ctx.threads):
            scores = fit_and_score(ctx, trial.params, X, y, folds)
        row.update(status="ok", fold_scores=scores, mean=float(np.mean(scores)), std=float(np.std(scores)))
    except Exception as e:  # noqa: BLE001 - a user/model error, recorded once and not retried
        row.update(status="error", error=f"{type(e).__name__}: {e}"[:500],
                   traceback=traceback.format_exc(limit=3)[-1500:], fold_scores=[], mean=None, std=None)
    ended = time.time()
    row.update(ended_at=ended, fit_seconds=round(ended - started, 4))
    return row


def _run_one_broadcast(ctx, bc, trial: Trial) -> dict:
    X, y, folds = bc.value
    return evaluate(ctx, trial, X, y, folds)


def _warm(ctx: TrialContext, bc, _):
    """Load the broadcast and the model library in every Python worker before the clock starts."""
    from .models import load_class

    X, _y, _f = bc.value
    load_class(get_model(ctx.model).class_path(ctx.task))  # the import is paid here, not by trial 1

    eid, host = executor_identity()
    return [(eid, host, int(X.shape[0]))]


# --------------------------------------------------------------------------- driver side
@dataclass
class ShippingReport:
    strategy: str
    payload_bytes: int  # one copy of the training data + folds, pickled
    copies: int  # how many times it crossed the network (executors, or trials)
    bytes_shipped: int
    executors: list[str]
    measured: dict  # Spark's own counters where available (shuffle bytes)


def run_broadcast(spark, ctx: TrialContext, trials: list[Trial], X, y, folds, parallelism: int,
                  on_result: Callable[[dict], None], should_stop: Callable[[], bool] = lambda: False,
                  timings: dict | None = None) -> ShippingReport:
    """Broadcast once, warm every slot (timed as ``warmup``), then one job per trial (``search``)."""
    sc = spark.sparkContext
    timings = timings if timings is not None else {}
    payload = (X, y, folds)
    payload_bytes = len(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    tw = time.monotonic()
    bc = sc.broadcast(payload)
    executors: set[str] = set()
    try:
        warm_workers(sc, ctx, bc, parallelism)
        timings["warmup"] = round(time.monotonic() - tw, 3)
        ts = time.monotonic()

        def submit(trial: Trial) -> dict:
            if should_stop():
                return {"trial_id": trial.trial_id, "status": "cancelled"}
            sc.setJobGroup(f"trial-{trial.trial_id}", f"hyperspark trial {trial.params}", True)
            return sc.parallelize([trial], 1).map(lambda t: _run_one_broadcast(ctx, bc, t)).collect()[0]

        with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="trial") as pool:
            for fut in as_completed([pool.submit(submit, t) for t in trials]):
                row = fut.result()
                if row.get("status") == "cancelled":
                    continue
                executors.add(f"{row.get('host')}/{row.get('executor_id')}")
                on_result(row)
        timings["search"] = round(time.monotonic() - ts, 3)
    finally:
        bc.unpersist()
    return ShippingReport("broadcast", payload_bytes, len(executors), payload_bytes * len(executors),
                          sorted(executors), {})


def warm_workers(sc, ctx: TrialContext, bc, slots: int) -> list:
    """One task per slot loads the broadcast and imports the library (timed as its own phase)."""
    return sc.parallelize(range(slots), slots).mapPartitions(lambda it: _warm(ctx, bc, it)).collect()


def run_replicate(spark, ctx: TrialContext, trials: list[Trial], X, y, folds,
                  on_result: Callable[[dict], None]) -> ShippingReport:
    """The crossJoin + groupBy(trial).applyInPandas baseline: one copy of the data per trial."""
    import json

    import pandas as pd

    fold_of = np.empty(len(y), dtype=np.int32)
    for k, (_tr, va) in enumerate(folds):
        fold_of[va] = k
    cols = [f"f{i}" for i in range(X.shape[1])]
    pdf = pd.DataFrame(X, columns=cols)
    pdf["__y"] = y
    pdf["__i"] = np.arange(len(y), dtype=np.int64)
    pdf["__fold"] = fold_of
    payload_bytes = int(pdf.memory_usage(index=False).sum())
    data_df = spark.createDataFrame(pdf)
    trials_df = spark.createDataFrame(
        [(t.trial_id, json.dumps(t.params)) for t in trials], "trial_id string, params string"
    )
    n = len(trials)
    prev = {k: spark.conf.get(k, None) for k in ("spark.sql.shuffle.partitions", "spark.sql.adaptive.enabled")}
    spark.conf.set("spark.sql.shuffle.partitions", str(n))
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    k = len(folds)

    def per_trial(group: pd.DataFrame) -> pd.DataFrame:
        g = group.sort_values("__i")
        Xg = g[cols].to_numpy(dtype=np.float64)
        yg = g["__y"].to_numpy()
        fo = g["__fold"].to_numpy()
        idx = np.arange(len(g))
        fl = [(idx[fo != j].astype(np.int32), idx[fo == j].astype(np.int32)) for j in range(k)]
        t = Trial(g["trial_id"].iloc[0], json.loads(g["params"].iloc[0]))
        row = evaluate(ctx, t, Xg, yg, fl)
        return pd.DataFrame({"row": [json.dumps(row)]})

    try:
        sc = spark.sparkContext
        sc.setJobGroup("replicate", f"hyperspark replicate {n} trials", True)
        out = (data_df.crossJoin(trials_df).groupBy("trial_id").applyInPandas(per_trial, "row string")
               .collect())
    finally:
        for key, val in prev.items():
            if val is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, val)
    executors = set()
    for r in out:
        row = json.loads(r["row"])
        executors.add(f"{row.get('host')}/{row.get('executor_id')}")
        on_result(row)
    measured = _shuffle_bytes(spark)
    return ShippingReport("replicate", payload_bytes, n, payload_bytes * n, sorted(executors), measured)


def _shuffle_bytes(spark) -> dict:
    """Spark's own shuffle-write counter for this application (driver UI REST API), if the UI is on."""
    import json
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
