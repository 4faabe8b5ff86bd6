"""The workloads every tool runs, as plain functions shared by all of them (so each tool evaluates the very
same code; only the dispatch differs).

* ``nap(seconds)``: a null trial, it only sleeps (dispatch overhead);
* ``evaluate(params, budget, path)``: HistGradientBoosting, 3-fold CV ROC AUC on a synthetic CSV
  (``dataset``), ``max_iter = budget``; returns the score, the process CPU seconds it used and its end
  time (epoch seconds), which is how every tool's trials are timed and costed alike;
* ``SPACE``: the 5-dimensional space, as (name, kind, low, high) rows each tool's adapter translates.

The ``hs_*`` functions are HyperSpark's objectives (``objective(params, data, budget)``).
"""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path

SPACE = (  # name, kind, low, high (log = log-uniform float)
    ("learning_rate", "log", 0.01, 0.5),
    ("max_leaf_nodes", "int", 4, 64),
    ("min_samples_leaf", "int", 2, 200),
    ("l2_regularization", "log", 1e-4, 10.0),
    ("max_features", "float", 0.2, 1.0),
)
FULL = 108  # full budget (max_iter); ASHA rungs 4, 12, 36, 108 (reduction 3)
MIN_BUDGET = 4
REDUCTION = 3
FOLDS = 3


def rungs(full: int = FULL, low: int = MIN_BUDGET, eta: int = REDUCTION) -> list[int]:
    out = [low]
    while out[-1] * eta <= full:
        out.append(out[-1] * eta)
    return out


def dataset(rows: int, cache: Path) -> Path:
    """A synthetic classification CSV (30 features, 12 informative), made once per size."""
    path = cache / f"peers-{rows}x30.csv"
    if not path.exists():
        import pandas as pd
        from sklearn.datasets import make_classification

        X, y = make_classification(n_samples=rows, n_features=30, n_informative=12, n_redundant=6,
                                   flip_y=0.05, class_sep=0.8, random_state=0)
        df = pd.DataFrame(X, columns=[f"x{i}" for i in range(30)])
        df["label"] = y
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        df.to_csv(tmp, index=False)
        tmp.replace(path)
    return path


@functools.lru_cache(maxsize=2)
def _load(path: str):
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold

    df = pd.read_csv(path)
    X, y = df.drop(columns="label").to_numpy(np.float64), df["label"].to_numpy()
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(X, y))
    return X, y, folds


def evaluate(params: dict, budget: int, path: str) -> dict:
    """3-fold CV AUC of HistGradientBoosting(max_iter=budget, **params), one thread."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    c0 = time.process_time()
    X, y, folds = _load(path)
    p = {k: params[k] for k, *_ in SPACE}
    p["max_leaf_nodes"], p["min_samples_leaf"] = int(p["max_leaf_nodes"]), int(p["min_samples_leaf"])
    scores = []
    with threadpool_limits(1):
        for tr, va in folds:
            m = HistGradientBoostingClassifier(max_iter=int(budget), early_stopping=False, random_state=0, **p)
            m.fit(X[tr], y[tr])
            scores.append(roc_auc_score(y[va], m.predict_proba(X[va])[:, 1]))
    return {"score": float(sum(scores) / len(scores)), "cpu_s": time.process_time() - c0, "t_end": time.time()}


def nap(seconds: float) -> dict:
    time.sleep(seconds)
    return {"score": 0.0, "cpu_s": 0.0, "t_end": time.time()}


# --------------------------------------------------------------------------- HyperSpark's objectives
def hs_null(params, data, budget):
    return nap(float(params["seconds"]))


def hs_hgb(params, data, budget):
    return evaluate(params, budget or FULL, data.removeprefix("file://"))
