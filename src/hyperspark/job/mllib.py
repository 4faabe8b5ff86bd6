"""MLlib data handling for the MLlib strategy: assemble features, split, make the cached folds, refit.

The MLlib executor (``executors/mllib.py``) runs CrossValidator's algorithm (a ``rand(seed)`` fold column, fit on k-1 folds, evaluate on the
held-out fold, average; ``parallelism`` fits at once) written out so that each trial's fold scores
reach the driver, progress and trials.jsonl the moment that trial ends, and a rerun resumes. The stock
``CrossValidator.fit`` returns only at the very end, with averages and no per-fold scores.

Where the time went in the probe (830 tiny jobs, no speedup from 1 to 2 workers): tiny data spread over
many partitions makes every tree-level job a fan of near-empty tasks. We coalesce the cached training
folds to the cluster's slot count so each job has one task per slot, and run ``parallelism`` fits
concurrently so that one fit's driver-side gaps are filled by another's tasks.
"""
from __future__ import annotations

from dataclasses import dataclass

from hyperspark.job import metrics as M
from hyperspark.job.models import build_mllib, get_model, mllib_param_map

FEATURES = "features"


def assemble(df, features: list[str], label: str):
    from pyspark.ml.feature import VectorAssembler

    va = VectorAssembler(inputCols=features, outputCol=FEATURES, handleInvalid="error")
    return va.transform(df).select(label, FEATURES)


def split(df, test_fraction: float, seed: int):
    train, test = df.randomSplit([1.0 - test_fraction, test_fraction], seed=seed)
    return train, test


def make_folds(train, k: int, seed: int, partitions: int):
    """k (train, validation) pairs, cached, each coalesced to ``partitions`` tasks."""
    from pyspark.sql import functions as F

    with_fold = train.withColumn("__fold", F.floor(F.rand(seed) * k).cast("int")).cache()
    folds = []
    for i in range(k):
        tr = with_fold.where(F.col("__fold") != i).drop("__fold").coalesce(partitions).cache()
        va = with_fold.where(F.col("__fold") == i).drop("__fold").coalesce(partitions).cache()
        folds.append((tr, va))
    for tr, va in folds:  # materialise now: the search clock should time fits, not the first scan
        tr.count()
        va.count()
    with_fold.unpersist()
    return folds


@dataclass(frozen=True)
class MLlibContext:
    """What every MLlib fit of a run shares: the model, the task and its label, the metric, the seed."""

    model: str  # registry key (mllib.*)
    task: str
    metric: str
    n_classes: int
    seed: int
    label: str
    resource: str | None = None  # early stopping: the param that takes a job's budget


def refit_and_score(ctx: MLlibContext, params: dict, train, test) -> tuple[object, dict]:
    """Fit the best params on the whole training split; every metric of the task on the test split."""
    task, n_classes, label = ctx.task, ctx.n_classes, ctx.label
    est = build_mllib(get_model(ctx.model), task, ctx.seed, FEATURES, label)
    model = est.fit(train, mllib_param_map(est, params))
    pred = model.transform(test).cache()
    out = {}
    for name in M.METRICS[task]:
        try:
            ev = M.build_mllib_evaluator(M.mllib_evaluator_spec(name, n_classes), label)
        except ValueError:
            continue  # e.g. roc_auc on a multiclass label
        if ev.__class__.__name__ == "BinaryClassificationEvaluator" and "rawPrediction" not in pred.columns:
            continue
        out[name] = float(ev.evaluate(pred))
    pred.unpersist()
    return model, out
