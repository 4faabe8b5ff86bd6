"""Adaptive search benchmark (issue 9): TPE vs random, TPE+ASHA vs full budget, async vs batch dispatch,
and HyperSpark vs Optuna in one process. Run by hand; figures go to docs/bench/adaptive.md.

    .venv/bin/python benchmarks/adaptive.py quality  [--seeds 5] [--trials 48] [--rows 10000] [--n-jobs 2]
    .venv/bin/python benchmarks/adaptive.py dispatch [--trials 48] [--rows 10000]   # needs `hyperspark up --workers 2`
    .venv/bin/python benchmarks/adaptive.py optuna   [--trials 48] [--rows 10000]   # needs the same cluster

``quality`` runs the job's own pipeline (``hyperspark.job.run.run``) with the joblib executor (2 local
processes, no Spark): the searchers, the ASHA scheduler and the in-flight loop are the very code that runs
on a cluster; only the executor differs, and scores and trial counts do not depend on it.
``dispatch`` and ``optuna`` submit to the running local cluster through the `hyperspark` CLI.

The problem: HistGradientBoosting on synthetic 30-feature data (make_classification, 12 informative),
a 5-dimensional space (learning rate log-uniform, leaves, min leaf size, L2 log-uniform, feature
fraction), 3-fold CV AUC; trial lengths vary several-fold with the leaves and the learning rate.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "bench"
SPACE = {
    "learning_rate": {"loguniform": [0.01, 0.5]},
    "max_leaf_nodes": {"int": [4, 64]},
    "min_samples_leaf": {"int": [2, 200]},
    "l2_regularization": {"loguniform": [1e-4, 10.0]},
    "max_features": {"uniform": [0.2, 1.0]},
    "early_stopping": False,
}
FULL = 108
ASHA = {"type": "asha", "resource": "max_iter", "min": 4, "max": FULL, "reduction": 3}


def dataset(rows: int) -> Path:
    """The peers benchmark's synthetic classification CSV (30 features, 12 informative), made once per size."""
    from hyperspark.ops.peers.workloads import dataset as synthetic

    return synthetic(rows, Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hyperspark" / "bench-data")


def spec(data: Path, out: Path, search: dict, asha: bool) -> dict:
    space = dict(SPACE)
    if not asha:
        space["max_iter"] = FULL
    d = {"name": "adaptive", "dataset": {"uri": str(data), "label": "label"},
         "model": "sklearn.hist_gradient_boosting", "search": search, "space": space, "metric": "roc_auc",
         "cv_folds": 3, "seed": 0, "output": str(out)}
    if asha:
        d["early_stopping"] = ASHA
    return d


def _local_run(d: dict, n_jobs: int, run_id: str):
    from hyperspark.job.run import run
    from hyperspark.job.protocol import parse_trials
    from hyperspark.job.spec import parse_spec

    s = run(None, parse_spec(d), run_id=run_id, log=lambda _m: None, progress_live=False, n_jobs=n_jobs)
    rows = parse_trials((Path(d["output"]) / run_id / "trials.jsonl").read_text())
    return s, rows


def best_so_far_by_number(rows, final_rung: int = 0) -> list[float]:
    finals = sorted((r for r in rows if r.ok and r.rung == final_rung), key=lambda r: r.number)
    out, best = [], float("-inf")
    for r in finals:
        best = max(best, r.mean)
        out.append(best)
    return out


def quality(args) -> dict:
    data = dataset(args.rows)
    res = {"rows": args.rows, "trials": args.trials, "n_jobs": args.n_jobs, "seeds": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            t = {}
            for kind, search, asha in (("random", "random", False), ("tpe", "tpe", False),
                                       ("tpe_asha", "tpe", True)):
                d = spec(data, Path(tmp), {"type": search, "trials": args.trials, "seed": seed}, asha)
                t0 = time.monotonic()
                s, rows = _local_run(d, args.n_jobs, f"{kind}-{seed}")
                # CPU seconds of the evaluating processes (1 thread each): the work done, unlike wall-based
                # busy core-seconds it does not grow when other work shares the machine
                busy = round(sum(r.cpu_seconds or 0.0 for r in rows), 1)
                curve = best_so_far_by_number(rows, 3 if asha else 0)
                t[kind] = {"best": s.cv_score, "busy_core_s": busy, "wall_s": round(time.monotonic() - t0, 1),
                           "curve": curve, "evaluations": len(rows)}
                print(f"seed {seed} {kind}: best {s.cv_score:.5f} busy {busy:.1f} cpu-s "
                      f"({len(rows)} evaluations)", flush=True)
            target = t["random"]["best"]
            reach = next((i + 1 for i, b in enumerate(t["tpe"]["curve"]) if b >= target), None)
            t["tpe_trials_to_random_best"] = reach
            t["asha_score_gap_pct"] = 100 * (target - t["tpe_asha"]["best"]) / target
            t["asha_busy_fraction"] = t["tpe_asha"]["busy_core_s"] / t["random"]["busy_core_s"]
            res["seeds"].append({"seed": seed, **t})
    reach = [s["tpe_trials_to_random_best"] or args.trials * 10 for s in res["seeds"]]
    res["median_tpe_trials_to_random_best"] = statistics.median(reach)
    res["median_asha_score_gap_pct"] = statistics.median(s["asha_score_gap_pct"] for s in res["seeds"])
    res["median_asha_busy_fraction"] = statistics.median(s["asha_busy_fraction"] for s in res["seeds"])
    return res


def _cli(*a, check=True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("hyperspark")
    p = subprocess.run([str(exe), *a], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise SystemExit(f"hyperspark {' '.join(a)} failed: {p.stderr.strip().splitlines()[-1:]}")
    return p


def _submit(d: dict, tmp: Path, run_id: str):
    from hyperspark.job.protocol import RunSummary, parse_trials

    f = tmp / f"{run_id}.yaml"
    f.write_text(yaml.safe_dump(d))
    t0 = time.monotonic()
    _cli("submit", str(f), "--run-id", run_id, "--json")
    wall = time.monotonic() - t0
    run_dir = Path(d["output"]) / run_id
    s = RunSummary.model_validate_json((run_dir / "summary.json").read_text())
    return s, parse_trials((run_dir / "trials.jsonl").read_text()), wall


def dispatch(args) -> dict:
    """Async vs batch-synchronous dispatch on the running cluster, same sampler, same trials."""
    data = dataset(args.rows)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("async", "batch"):
            d = spec(data, Path(tmp), {"type": "tpe", "trials": args.trials, "seed": 1, "dispatch": mode}, False)
            s, rows, wall = _submit(d, Path(tmp), f"dispatch-{mode}")
            fits = [r.fit_seconds for r in rows]
            out[mode] = {"search_s": s.timings["search"], "submit_wall_s": round(wall, 1), "best": s.cv_score,
                         "idle_slot_fraction": s.cost.idle_slot_fraction, "slots": s.cluster.slots,
                         "fit_s_min": min(fits), "fit_s_max": max(fits),
                         "fit_s_median": statistics.median(fits)}
            print(mode, json.dumps(out[mode]), flush=True)
    return out


def optuna_vs(args) -> dict:
    """HyperSpark (2 workers) against Optuna in one process (n_jobs=2), same sampler, same trials."""
    import numpy as np
    import optuna
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from hyperspark.job import data as D

    data = dataset(args.rows)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = spec(data, Path(tmp), {"type": "tpe", "trials": args.trials, "seed": 1}, False)
        s, rows, wall = _submit(d, Path(tmp), "vs-optuna")
        res["hyperspark"] = {"submit_wall_s": round(wall, 1), "search_s": s.timings["search"], "best": s.cv_score}

    t0 = time.monotonic()
    df = pd.read_csv(data)
    X, y = df.drop(columns="label").to_numpy(float), df["label"].to_numpy()
    X_tr, _X_te, y_tr, _y_te = D.split_numpy(X, y, "classification", 0.2, 0)
    folds = D.cv_folds(y_tr, "classification", 3, 0)

    def objective(trial):
        p = {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.5, log=True),
             "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 4, 64),
             "min_samples_leaf": trial.suggest_int("min_samples_leaf", 2, 200),
             "l2_regularization": trial.suggest_float("l2_regularization", 1e-4, 10.0, log=True),
             "max_features": trial.suggest_float("max_features", 0.2, 1.0)}
        scores = []
        with threadpool_limits(1):
            for tr, va in folds:
                m = HistGradientBoostingClassifier(max_iter=FULL, early_stopping=False, random_state=0, **p)
                m.fit(X_tr[tr], y_tr[tr])
                scores.append(roc_auc_score(y_tr[va], m.predict_proba(X_tr[va])[:, 1]))
        return float(np.mean(scores))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
        seed=1, multivariate=True, constant_liar=True, n_startup_trials=10))
    t1 = time.monotonic()
    study.optimize(objective, n_trials=args.trials, n_jobs=2)
    res["optuna"] = {"wall_s": round(time.monotonic() - t0, 1), "search_s": round(time.monotonic() - t1, 1),
                     "best": study.best_value}
    res["wall_ratio"] = res["hyperspark"]["submit_wall_s"] / res["optuna"]["wall_s"]
    res["search_ratio"] = res["hyperspark"]["search_s"] / res["optuna"]["search_s"]
    print(json.dumps(res), flush=True)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["quality", "dispatch", "optuna"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--trials", type=int, default=48)
    p.add_argument("--rows", type=int, default=10000)
    p.add_argument("--n-jobs", type=int, default=2)
    args = p.parse_args(argv)
    res = {"quality": quality, "dispatch": dispatch, "optuna": optuna_vs}[args.what](args)
    OUT.mkdir(parents=True, exist_ok=True)
    dst = OUT / f"adaptive-{args.what}.json"
    tmp = dst.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=2) + "\n")
    tmp.replace(dst)
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
