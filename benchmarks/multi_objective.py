"""Multi-objective TPE against random search: hypervolume of the Pareto front at N trials (issue 21).

Each seed runs the real job pipeline twice on the bundled breast-cancer data (569 rows, 30 features) without
Spark (``spark=None``: the joblib executor with ``--workers`` processes), tuning a random forest for two
objectives with a real trade-off: ``roc_auc`` (maximize) and ``model_bytes`` (minimize; deterministic, unlike
a latency on a loaded machine; ``--pair predict_ms`` uses the prediction latency instead).

Hypervolume: points (-roc_auc, log10(cost)) against one reference per seed shared by both searches (0.90
roc_auc, and 0.1 beyond the worst log-cost either search saw), computed with Optuna's hypervolume
(``hyperspark.job.pareto.hypervolume``). Reported per seed: both hypervolumes at N trials, and how many
trials TPE needed to reach random's N-trial hypervolume; the summary line gives the medians.

    .venv/bin/python benchmarks/multi_objective.py --seeds 5 --trials 48 --workers 2
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from hyperspark.job.pareto import Objectives, front, hypervolume
from hyperspark.job.protocol import parse_trials
from hyperspark.job.run import run
from hyperspark.job.spec import parse_spec

DATA = Path(__file__).resolve().parents[1] / "examples" / "data" / "breast_cancer.csv"
SPACE = {"n_estimators": {"int": [5, 300]}, "max_depth": {"int": [1, 16]},
         "min_samples_leaf": {"int": [1, 20]}, "max_features": {"uniform": [0.05, 1.0]}}


def one_run(kind: str, seed: int, trials: int, workers: int, cost: str, out: Path) -> list:
    spec = parse_spec({"name": f"mo-{kind}", "dataset": {"uri": str(DATA), "label": "target"},
                       "model": "sklearn.random_forest", "search": {"type": kind, "trials": trials, "seed": seed},
                       "space": SPACE, "objectives": [{"metric": "roc_auc"}, {"metric": cost}],
                       "cv_folds": 3, "seed": seed, "output": str(out)})
    run_id = f"{kind}-{seed}"
    run(None, spec, run_id=run_id, n_jobs=workers, progress_live=False, progress_lines=False, log=lambda _m: None)
    return sorted(parse_trials((out / run_id / "trials.jsonl").read_text()), key=lambda r: r.number)


def curve(rows: list, obj: Objectives, ref: tuple) -> list[float]:
    """Hypervolume of the front of the first i configurations (ask order), i = 1..N."""
    def pt(r):
        v = obj.values(r)
        return (-v[0], math.log10(max(v[1], 1e-9)))

    return [hypervolume([pt(r) for r in front(rows[:i], obj)], ref) for i in range(1, len(rows) + 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=48)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--pair", choices=["model_bytes", "predict_ms"], default="model_bytes")
    args = ap.parse_args()
    obj = Objectives(("roc_auc", args.pair), (True, False), primary="roc_auc")
    per_seed = []
    with tempfile.TemporaryDirectory(prefix="hs-mo-bench-") as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.monotonic()
            rows = {k: one_run(k, seed, args.trials, args.workers, args.pair, Path(tmp)) for k in ("tpe", "random")}
            worst = max(math.log10(max(obj.values(r)[1], 1e-9)) for rs in rows.values() for r in rs if r.ok)
            ref = (-0.90, worst + 0.1)
            hv = {k: curve([r for r in rs if r.ok], obj, ref) for k, rs in rows.items()}
            target = hv["random"][-1]
            reach = next((i + 1 for i, h in enumerate(hv["tpe"]) if h >= target), None)
            per_seed.append({"seed": seed, "hv_tpe": round(hv["tpe"][-1], 5), "hv_random": round(target, 5),
                             "tpe_trials_to_reach_random": reach, "seconds": round(time.monotonic() - t0, 1),
                             "load": round(os.getloadavg()[0], 1)})
            print(json.dumps(per_seed[-1]), flush=True)
    reach = statistics.median(s["tpe_trials_to_reach_random"] or math.inf for s in per_seed)
    print(json.dumps({"trials": args.trials, "seeds": args.seeds, "workers": args.workers, "pair": args.pair,
                      "median_hv_tpe": statistics.median(s["hv_tpe"] for s in per_seed),
                      "median_hv_random": statistics.median(s["hv_random"] for s in per_seed),
                      "median_tpe_trials_to_reach_random": reach if math.isfinite(reach) else None,
                      "target_at_most": args.trials // 2}))


if __name__ == "__main__":
    main()
