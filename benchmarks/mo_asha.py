"""Multi-objective ASHA against the same searcher at full budget: hypervolume and busy core-seconds (issue 21).

Each seed runs the real job pipeline twice on the bundled breast-cancer data (569 rows, 30 features) without
Spark (``spark=None``: the joblib executor with ``--workers`` processes), tuning a random forest for two
objectives with a real trade-off, ``roc_auc`` (maximize) and ``model_bytes`` (minimize), with the same
searcher (multi-objective TPE, same seed, same number of configurations):

* **full**: every configuration at ``n_estimators = --max``;
* **mo-asha**: MO-ASHA on ``n_estimators`` (``--min`` .. ``--max``, reduction ``--reduction``): a rung's
  results ordered by non-dominated sorting, then crowding distance; the top ``n // reduction`` promoted.

Hypervolume of each run's front (its final rung, so both at ``n_estimators = --max``): points
(-roc_auc, log10(model_bytes)) against one reference per seed shared by both runs (0.90 roc_auc, 0.1 beyond
the worst log-size either run's final rows saw), Optuna's hypervolume (``hyperspark.job.pareto``). Cost:
the summary's ``cost.busy_core_seconds`` (sum of the trials' fit seconds x cores per trial), which is wall
time and so grows with the machine's load; beside it the load-independent share of the work, trees fitted
(the sum of every evaluation's ``n_estimators``) over the full run's. Targets: the median hypervolume ratio
mo-asha / full >= 0.99 and the median busy core-seconds ratio <= 0.40.

    .venv/bin/python benchmarks/mo_asha.py --seeds 5 --configs 48 --workers 2
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
SPACE = {"max_depth": {"int": [1, 16]}, "min_samples_leaf": {"int": [1, 20]},
         "max_features": {"uniform": [0.05, 1.0]}}
OBJ = Objectives(("roc_auc", "model_bytes"), (True, False), primary="roc_auc")


def one_run(kind: str, seed: int, args, out: Path):
    """(the run's summary, its rows at the final rung)."""
    spec = {"name": f"moasha-{kind}", "dataset": {"uri": str(DATA), "label": "target"},
            "model": "sklearn.random_forest", "search": {"type": "tpe", "trials": args.configs, "seed": seed},
            "space": dict(SPACE), "objectives": [{"metric": "roc_auc"}, {"metric": "model_bytes"}],
            "cv_folds": 3, "seed": seed, "output": str(out)}
    if kind == "full":
        spec["space"]["n_estimators"] = [args.max]
    else:
        spec["early_stopping"] = {"resource": "n_estimators", "min": args.min, "max": args.max,
                                  "reduction": args.reduction}
    run_id = f"{kind}-{seed}"
    summary = run(None, parse_spec(spec), run_id=run_id, n_jobs=args.workers, progress_live=False,
                  progress_lines=False, log=lambda _m: None)
    rows = parse_trials((out / run_id / "trials.jsonl").read_text())
    top = max(r.rung for r in rows)
    return summary, [r for r in rows if r.ok and r.rung == top], rows


def point(r) -> tuple[float, float]:
    v = OBJ.values(r)
    return (-v[0], math.log10(max(v[1], 1e-9)))


def one_seed(seed: int, args, tmp: Path) -> dict:
    t0 = time.monotonic()
    res = {k: one_run(k, seed, args, tmp) for k in ("full", "mo-asha")}
    worst = max(point(r)[1] for _, final, _ in res.values() for r in final)
    ref = (-0.90, worst + 0.1)
    hv = {k: hypervolume([point(r) for r in front(final, OBJ, final[0].rung if final else 0)], ref)
          for k, (_, final, _) in res.items()}
    busy = {k: s.cost.busy_core_seconds for k, (s, _, _) in res.items()}
    trees = {k: sum(r.budget or args.max for r in rows) for k, (_, _, rows) in res.items()}
    return {"seed": seed, "hv_full": round(hv["full"], 5), "hv_mo_asha": round(hv["mo-asha"], 5),
            "hv_ratio": round(hv["mo-asha"] / hv["full"], 4) if hv["full"] else None,
            "busy_full": busy["full"], "busy_mo_asha": busy["mo-asha"],
            "busy_ratio": round(busy["mo-asha"] / busy["full"], 4) if busy["full"] else None,
            "trees_ratio": round(trees["mo-asha"] / trees["full"], 4),
            "evaluations_mo_asha": len(res["mo-asha"][2]), "at_full_budget_mo_asha": len(res["mo-asha"][1]),
            "front_full": len(res["full"][0].pareto or []), "front_mo_asha": len(res["mo-asha"][0].pareto or []),
            "seconds": round(time.monotonic() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--configs", type=int, default=48)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--min", type=int, default=9)
    ap.add_argument("--max", type=int, default=81)
    ap.add_argument("--reduction", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    args = ap.parse_args()
    per_seed = []
    with tempfile.TemporaryDirectory(prefix="hs-moasha-bench-") as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            per_seed.append(one_seed(seed, args, Path(tmp)))
            print(json.dumps({**per_seed[-1], "load": os.getloadavg()[0]}), flush=True)
    print(json.dumps({"configs": args.configs, "seeds": args.seeds, "workers": args.workers,
                      "rungs": [args.min, args.max, args.reduction],
                      "median_hv_ratio": statistics.median(s["hv_ratio"] for s in per_seed),
                      "median_busy_ratio": statistics.median(s["busy_ratio"] for s in per_seed),
                      "median_trees_ratio": statistics.median(s["trees_ratio"] for s in per_seed),
                      "target": {"hv_ratio_at_least": 0.99, "busy_ratio_at_most": 0.40}}))


if __name__ == "__main__":
    main()
