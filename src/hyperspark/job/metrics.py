"""Metrics: one table shared by both strategies.

Each metric is defined once, with its scikit-learn computation (single-machine trials, held-out scoring)
and the MLlib evaluator that computes the SAME quantity in Spark (MLlib folds and held-out scoring):
binary precision/recall/f1 are those of the positive class (scikit-learn's ``average='binary'``, MLlib's
``*ByLabel`` with ``metricLabel=1``); multiclass uses support-weighted averages on both sides.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION = ("rmse", "mae", "r2")
METRICS = {"classification": CLASSIFICATION, "regression": REGRESSION}

def needs_scores(metric: str) -> bool:
    """roc_auc ranks by a continuous score (probability), not by hard predictions."""
    return metric == "roc_auc"

def score(metric: str, y_true, y_pred, y_score=None, n_classes: int = 2) -> float:
    """Compute ``metric`` with scikit-learn. ``y_score``: P(positive) for binary, (n, k) for multiclass."""
    from sklearn import metrics as m

    y_true = np.asarray(y_true)
    if metric == "accuracy":
        return float(m.accuracy_score(y_true, y_pred))
    if metric in ("precision", "recall", "f1"):
        fn = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}[metric]
        avg = "binary" if n_classes == 2 else "weighted"
        kw = {"pos_label": _positive_label(y_true, y_pred)} if avg == "binary" else {}
        return float(fn(y_true, y_pred, average=avg, zero_division=0, **kw))
    if metric == "roc_auc":
        if y_score is None:
            raise ValueError("roc_auc needs class probabilities or decision scores")
        if n_classes == 2:
            return float(m.roc_auc_score(y_true, y_score))
        s = np.asarray(y_score, dtype=float)
        if s.ndim == 2 and np.allclose(s.sum(axis=1), 1.0):
            return float(m.roc_auc_score(y_true, s, multi_class="ovr", average="weighted"))
        return _ovr_auc(y_true, s)
    if metric == "rmse":
        return float(np.sqrt(m.mean_squared_error(y_true, y_pred)))
    if metric == "mae":
        return float(m.mean_absolute_error(y_true, y_pred))
    if metric == "r2":
        return float(m.r2_score(y_true, y_pred))
    raise ValueError(f"unknown metric {metric!r}")

def _ovr_auc(y_true, s) -> float:
    """One-vs-rest roc_auc, weighted by support, from per-class decision scores (an SVC without
    probabilities): the quantity scikit-learn's ``multi_class="ovr"`` computes, which it only accepts as
    probabilities although each class's AUC needs only that column's ranking."""
    from sklearn import metrics as m

    classes = np.unique(y_true)
    if s.ndim != 2 or s.shape[1] != len(classes):
        raise ValueError(f"roc_auc: {s.shape[-1]} score columns for {len(classes)} classes in y_true")
    aucs = [m.roc_auc_score(y_true == c, s[:, i]) for i, c in enumerate(classes)]
    weights = [int(np.sum(y_true == c)) for c in classes]
    return float(np.average(aucs, weights=weights))

def _positive_label(y_true, y_pred):
    """The larger of the two labels is 'positive' (1 for 0/1 data), as in MLlib with metricLabel=1."""
    labels = np.unique(np.concatenate([np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()]))
    return labels.max()

def all_scores(task: str, y_true, y_pred, y_score=None, n_classes: int = 2) -> dict[str, float]:
    out = {}
    for name in METRICS[task]:
        if needs_scores(name) and y_score is None:
            continue
        out[name] = score(name, y_true, y_pred, y_score, n_classes)
    return out

@dataclass(frozen=True)
class EvaluatorSpec:
    kind: str  # "binary" | "multiclass" | "regression"
    metric_name: str
    metric_label: float | None = None

def mllib_evaluator_spec(metric: str, n_classes: int) -> EvaluatorSpec:
    """The MLlib evaluator that computes the same value as :func:`score`."""
    if metric in REGRESSION:
        return EvaluatorSpec("regression", metric)
    if metric == "roc_auc":
        if n_classes != 2:
            raise ValueError("roc_auc with MLlib models needs a binary label")
        return EvaluatorSpec("binary", "areaUnderROC")
    if metric == "accuracy":
        return EvaluatorSpec("multiclass", "accuracy")
    if n_classes == 2:
        name = {"precision": "precisionByLabel", "recall": "recallByLabel", "f1": "fMeasureByLabel"}[metric]
        return EvaluatorSpec("multiclass", name, 1.0)
    name = {"precision": "weightedPrecision", "recall": "weightedRecall", "f1": "f1"}[metric]
    return EvaluatorSpec("multiclass", name)

def build_mllib_evaluator(spec: EvaluatorSpec, label_col: str = "label"):
    from pyspark.ml import evaluation as ev

    if spec.kind == "regression":
        return ev.RegressionEvaluator(metricName=spec.metric_name, labelCol=label_col)
    if spec.kind == "binary":
        return ev.BinaryClassificationEvaluator(
            metricName=spec.metric_name, labelCol=label_col, rawPredictionCol="rawPrediction"
        )
    e = ev.MulticlassClassificationEvaluator(metricName=spec.metric_name, labelCol=label_col)
    if spec.metric_label is not None:
        e.setMetricLabel(spec.metric_label)
    return e
