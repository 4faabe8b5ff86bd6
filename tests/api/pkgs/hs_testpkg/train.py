"""Objectives for the tests. ``curve`` fakes a learning curve: its score at epoch e is
value(params) * e / (e + 1), reported each epoch, so ASHA's decisions can be worked out by hand."""
from __future__ import annotations

import numpy as np

VALUES = {"c1": 1, "c2": 2, "c3": 3, "c4": 4, "c5": 5, "c6": 6, "c7": 7, "c8": 8, "c9": 9}


def curve(params, data, budget, report=None):
    v = VALUES[params["x"]] / 10
    score = None
    for epoch in range(1, int(budget or 1) + 1):
        score = v * epoch / (epoch + 1)
        if report is not None:
            report(epoch, score)
    return {"score": score, "epochs": float(budget or 1), "rows": float(len(data.y))}


def quadratic(params, data, budget):
    """Minimum at a=0.3; the data must be the train split as numpy arrays."""
    assert isinstance(data.X, np.ndarray) and data.X.shape[0] == data.y.shape[0]
    return (params["a"] - 0.3) ** 2


def not_a_number(params, data, budget):
    return "nope"


def reads_uri(params, data, budget):
    assert isinstance(data, str)
    return float(len(data) > 0) + params["k"]


def gpu_probe(params, data, budget, trial):
    """Holds its slot ~1 s and says what it was given: the GPU address in CUDA_VISIBLE_DEVICES and in its
    ``trial`` argument (as numbers: an objective's extra metrics are floats), and its cores."""
    import os
    import time

    time.sleep(float(params.get("hold", 1.0)))
    cuda = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return {"score": float(params["x"]),
            "cuda": float(cuda) if cuda.isdigit() else -1.0,
            "held": float(trial.gpus[0]) if len(trial.gpus) == 1 else -1.0,
            "n_held": float(len(trial.gpus)), "cpus": float(trial.cpus)}
