"""Hand-made runs for the report tests: typed rows and summaries, as the job writes them."""
from __future__ import annotations

import itertools
import random

import pytest

from hyperspark.job.protocol import RunSummary, TrialResult

T0 = 1_790_000_000.0


def make_rows(params_grid: dict[str, list], metric_fn=None, slots=("127.0.0.1/0", "127.0.0.1/1"),
              fail: set[int] = frozenset(), seed: int = 3) -> list[TrialResult]:
    """One row per grid point, dispatched on ``slots`` back to back with small idle gaps."""
    rng = random.Random(seed)
    names = list(params_grid)
    free = {s: T0 for s in slots}
    rows = []
    for i, combo in enumerate(itertools.product(*params_grid.values())):
        params = dict(zip(names, combo))
        slot = min(free, key=free.get)
        start = free[slot] + rng.uniform(0.05, 0.6)
        dur = rng.uniform(1.0, 3.0)
        score = metric_fn(params) if metric_fn else 0.8 + 0.01 * i
        folds = [score - 0.01, score, score + 0.01]
        ok = i not in fail
        rows.append(TrialResult(
            trial_id=f"t{i:03d}", number=i, params=params, status="ok" if ok else "error",
            fold_scores=folds if ok else [], mean=score if ok else None, std=0.008 if ok else None,
            error=None if ok else "ValueError: bad combination", executor_id=slot.split("/")[1],
            host=slot.split("/")[0], slot=slot, started_at=start, ended_at=start + dur, fit_seconds=dur,
            run_id="run-a"))
        free[slot] = start + dur
    return rows


def make_summary(rows: list[TrialResult], metric: str = "roc_auc", gib: bool = True, **extra) -> RunSummary:
    ok = [r for r in rows if r.ok]
    best = (max if gib else min)(ok, key=lambda r: r.mean)
    data = dict(
        run_id="run-a", name="demo", output_uri="file:///tmp/runs/run-a", model="sklearn.random_forest",
        task="classification", strategy="trials", metric=metric, greater_is_better=gib,
        search={"type": "grid", "trials": len({r.trial_id for r in rows}), "ran": len(rows), "ok": len(ok),
                "failed": len(rows) - len(ok), "cv_folds": 3},
        best={"trial_id": best.trial_id, "params": best.params, "cv_score": best.mean, "cv_std": best.std,
              "fold_scores": best.fold_scores},
        best_params=best.params, cv_score=best.mean,
        test_metrics={"roc_auc": 0.987654321, "accuracy": 0.9473684210526315, "f1": 0.958904109589041},
        data={"uri": "file:///tmp/data/bc.csv", "rows": 569, "train_rows": 455, "test_rows": 114,
              "label": "target", "hash": "sha256:0f3c2a9b1d7e"},
        cluster={"master": "spark://127.0.0.1:7077", "executors": 2, "cores": 2, "slots": 2, "parallelism": 2},
        cost={"busy_core_seconds": 41.25, "available_core_seconds": 48.5, "idle_slot_fraction": 0.1495},
        timings={"session": 9.61, "load": 0.42, "warmup": 4.7, "search": 24.25, "refit": 1.5, "write": 0.1,
                 "total": 40.58},
        versions={"python": "3.11.2", "pyspark": "4.3.0", "sklearn": "1.9.1", "hyperspark": "0.1.0"},
    )
    data.update(extra)
    return RunSummary.model_validate(data)


@pytest.fixture
def grid_run():
    rows = make_rows({"n_estimators": [25, 50, 100], "max_depth": [3, 6, None], "criterion": ["gini", "entropy"],
                      "max_features": [0.3, 0.7]},
                     metric_fn=lambda p: 0.9 + p["n_estimators"] / 5000 + (p["max_depth"] or 8) / 400
                     + (0.004 if p["criterion"] == "gini" else 0) + p["max_features"] / 1000,
                     fail={5})
    return rows, make_summary(rows)
