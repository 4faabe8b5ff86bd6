"""What a single-machine trial measures besides its scored metric, for several objectives and constraints
(``job/pareto.py``): other metrics of the task on the same validation fold, and the costs

* ``fit_seconds``: wall seconds of one fit (mean over the folds);
* ``predict_ms``: milliseconds to predict 1,000 rows (the validation fold, timed once per fold);
* ``model_bytes``: the fitted model's pickled size in bytes.

Runs inside the trial (``executors/trial.py``, :func:`measure` per fold, :func:`mean` per trial); imports
only the metrics table, numpy and the standard library.
"""
from __future__ import annotations

import pickle
import time
from typing import Sequence

import numpy as np

from hyperspark.job import metrics as M


def measure(names: Sequence[str], est, X, y, fit_s: float, n_classes: int, predict_scores) -> dict[str, float]:
    """The quantities ``names`` for one fitted fold model on its validation rows ``X``, ``y``."""
    out: dict[str, float] = {}
    if not names:
        return out
    t = time.perf_counter()
    y_pred = est.predict(X)
    elapsed = time.perf_counter() - t
    y_score = None
    for n in names:
        if n == "fit_seconds":
            out[n] = float(fit_s)
        elif n == "predict_ms":
            out[n] = 1000.0 * elapsed * 1000.0 / max(1, len(X))
        elif n == "model_bytes":
            out[n] = float(len(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL)))
        else:
            if M.needs_scores(n) and y_score is None:
                y_score = predict_scores(est, X, n_classes)
            out[n] = M.score(n, y, y_pred, y_score, n_classes)
    return out


def mean(per_fold: list[dict[str, float]]) -> dict[str, float]:
    """Per quantity, its mean over the folds (``model_bytes`` too: fold models differ a little)."""
    if not per_fold:
        return {}
    return {k: float(np.mean([d[k] for d in per_fold])) for k in per_fold[0]}
