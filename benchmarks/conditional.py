"""Conditional search over 3 model families: TPE against random search, best-of-N (issue 21).

Each seed runs the real job pipeline twice (TPE, then random search, same seed) on scikit-learn's bundled
breast-cancer data (``sklearn.datasets.load_breast_cancer``: 569 rows, 30 unscaled features, 2 classes;
shipped inside scikit-learn, no download) without Spark (``spark=None``: the joblib executor with ``--workers``
processes). The space is a choice of model family, each with its own sub-space (``model: {choice: ...}``,
combined algorithm selection and tuning):

* ``sklearn.svm``: ``C`` log-uniform 1e-2..1e3, ``gamma`` log-uniform 1e-8..1 (on unscaled features an RBF
  kernel is good only in a narrow band of small gammas);
* ``sklearn.knn``: ``n_neighbors`` 1..40, ``weights`` uniform | distance;
* ``sklearn.random_forest``: ``n_estimators`` 10..100, ``max_depth`` 2..20, ``max_features`` 0.05..1.

(The digits data was the first choice; with an SVC winner its refit fails: the job's multiclass
``roc_auc`` test metric takes ``decision_function`` scores, which do not sum to 1.)

Score: 3-fold CV ROC AUC. Reported per seed: both searches' best after ``--trials`` configurations, and how
many configurations (in ask order) TPE needed to reach random's best-of-``--trials``; the summary line
gives the medians. Target: TPE reaches random's best-of-60 in at most 30 configurations.

    .venv/bin/python benchmarks/conditional.py --seeds 5 --trials 60 --workers 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from hyperspark.job.protocol import parse_trials
from hyperspark.job.run import run
from hyperspark.job.spec import parse_spec

FAMILIES = {
    "sklearn.svm": {"C": {"loguniform": [1e-2, 1e3]}, "gamma": {"loguniform": [1e-8, 1.0]}},
    "sklearn.knn": {"n_neighbors": {"int": [1, 40]}, "weights": ["uniform", "distance"]},
    "sklearn.random_forest": {"n_estimators": {"int": [10, 100]}, "max_depth": {"int": [2, 20]},
                              "max_features": {"uniform": [0.05, 1.0]}},
}


def data_csv(folder: Path) -> Path:
    """scikit-learn's bundled breast-cancer data as a CSV (written once per benchmark run, temp name then
    rename)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    path = folder / "breast_cancer.csv"
    tmp = folder / "breast_cancer.csv.tmp"
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def one_run(kind: str, seed: int, trials: int, workers: int, data: Path, out: Path) -> list:
    spec = parse_spec({"name": f"cond-{kind}", "dataset": {"uri": str(data), "label": "target"},
                       "model": {"choice": FAMILIES}, "search": {"type": kind, "trials": trials, "seed": seed},
                       "metric": "roc_auc", "cv_folds": 3, "seed": seed, "output": str(out)})
    run_id = f"{kind}-{seed}"
    run(None, spec, run_id=run_id, n_jobs=workers, progress_live=False, progress_lines=False, log=lambda _m: None)
    return sorted(parse_trials((out / run_id / "trials.jsonl").read_text()), key=lambda r: r.number)


def best_curve(rows: list) -> list[float]:
    """The best ROC AUC among the first i configurations (ask order), i = 1..N (failed rows count nothing)."""
    out, best = [], float("-inf")
    for r in rows:
        if r.ok and r.mean is not None:
            best = max(best, r.mean)
        out.append(best)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0)
    args = ap.parse_args()
    per_seed = []
    with tempfile.TemporaryDirectory(prefix="hs-cond-bench-") as tmp:
        data = data_csv(Path(tmp))
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.monotonic()
            rows = {k: one_run(k, seed, args.trials, args.workers, data, Path(tmp)) for k in ("tpe", "random")}
            curves = {k: best_curve(rs) for k, rs in rows.items()}
            target = curves["random"][-1]
            reach = next((i + 1 for i, b in enumerate(curves["tpe"]) if b >= target), None)
            fams = {k: {f: sum(r.params.get("model") == f for r in rs) for f in FAMILIES} for k, rs in rows.items()}
            per_seed.append({"seed": seed, "best_tpe": round(curves["tpe"][-1], 5), "best_random": round(target, 5),
                             "tpe_trials_to_reach_random": reach, "families_tpe": fams["tpe"],
                             "families_random": fams["random"], "seconds": round(time.monotonic() - t0, 1),
                             "load": round(os.getloadavg()[0], 1)})
            print(json.dumps(per_seed[-1]), flush=True)
    reach = [s["tpe_trials_to_reach_random"] or float("inf") for s in per_seed]
    med = statistics.median(reach)
    print(json.dumps({"trials": args.trials, "seeds": args.seeds, "workers": args.workers,
                      "median_best_tpe": statistics.median(s["best_tpe"] for s in per_seed),
                      "median_best_random": statistics.median(s["best_random"] for s in per_seed),
                      "median_tpe_trials_to_reach_random": med if med != float("inf") else None,
                      "target_at_most": args.trials // 2}))


if __name__ == "__main__":
    main()
