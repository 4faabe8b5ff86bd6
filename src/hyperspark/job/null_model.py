"""Null trials: estimators that only sleep, to measure the tuner's own overhead (``bench --null-trials``).

A trial's fit sleeps ``seconds`` and predicts a constant, so a search of N such trials on S slots would
ideally take N * seconds * folds / S; anything above that is dispatch overhead. Sleeping needs no core,
so a 2-core machine can simulate 16-64 slots (many 1-core workers, or workers with many cores each).
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin


class _Sleep(BaseEstimator):
    def __init__(self, seconds: float = 0.1, trial: int = 0, random_state: int | None = None):
        self.seconds = seconds
        self.trial = trial  # only makes configurations distinct; never used
        self.random_state = random_state

    def fit(self, X, y):
        time.sleep(float(self.seconds))
        self.classes_ = np.unique(y)
        self._mean = float(np.mean(y))
        return self


class SleepClassifier(_Sleep, ClassifierMixin):
    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def predict_proba(self, X):
        p = np.zeros((len(X), len(self.classes_)))
        p[:, 0] = 1.0
        return p


class SleepRegressor(_Sleep, RegressorMixin):
    def predict(self, X):
        return np.full(len(X), self._mean)


def sleep_objective(params: dict, data, budget, trial=None) -> dict:
    """A null OBJECTIVE: sleeps ``params["seconds"]`` (default 0.1) and scores ``params.get("x", 0)``.
    Objectives may ask for resources (``resources: {gpus: 1}``) where registry models may not, so the
    resource-profile benchmark runs this; it reports the GPU count it held (``n_gpus``)."""
    time.sleep(float(params.get("seconds", 0.1)))
    return {"score": float(params.get("x", 0.0)), "n_gpus": float(len(trial.gpus)) if trial is not None else 0.0}
