"""Dispatch efficiency under a task resource profile, by simulation (issue 20's benchmark).

A real local standalone cluster of W workers x C cores x G fake GPUs (``up --gpu-addresses``; Spark does not
check that an address is a device), then the same search of N sleeping objective trials three ways:
without ``resources``, with ``gpus: 1`` and with ``gpus: 0.5``. Efficiency = ideal / search wall, ideal =
N x seconds / slots (slots counted by the job from the profile, recorded in summary.cluster.slots).
Sleeping needs no core, so a 2-core machine simulates 16-32 slots.

    .venv/bin/python benchmarks/resources_sim.py [--workers 4] [--cores 8] [--gpus 4] [--trials 64]
        [--seconds 1.0] [--repeats 3] [--out docs/bench/resources-sim.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data" / "breast_cancer.csv"
CASES = {"none": None, "gpus=1": {"gpus": 1}, "gpus=0.5": {"gpus": 0.5}}


def _spec(tmp: Path, name: str, resources: dict | None, trials: int, seconds: float) -> Path:
    spec = {"name": name, "dataset": {"uri": str(DATA), "label": "target"},
            "objective": "hyperspark.job.null_model:sleep_objective", "search": {"type": "grid"},
            "space": {"x": list(range(trials)), "seconds": [seconds]}, "output": str(tmp / "runs")}
    if resources is not None:
        spec["resources"] = resources
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _one(target, tmp: Path, case: str, rep: int, args) -> dict:
    run_id = f"{case.replace('=', '').replace('.', '')}-{rep}"
    res = target.submit(_spec(tmp, run_id, CASES[case], args.trials, args.seconds), run_id=run_id, cold=True)
    if res.exit_code != 0:
        raise SystemExit(f"resources_sim: {case} failed: {res.error}")
    s = res.summary
    ideal = args.trials * args.seconds / s.cluster.slots
    return {"case": case, "repeat": rep, "slots": s.cluster.slots, "search_s": s.timings["search"],
            "ideal_s": round(ideal, 3), "efficiency": round(ideal / s.timings["search"], 4)}


def _ports() -> dict[str, int]:
    """Master RPC and UIs on a block of 12 free ports (workers' UIs count up from worker_ui_port)."""
    from hyperspark.ops.util.net import port_free

    base = next(b for b in range(27000, 60000, 16) if all(port_free(b + i) for i in range(12)))
    return {"master_port": base, "ui_port": base + 1, "driver_ui_port": base + 2, "history_ui_port": base + 3,
            "worker_ui_port": base + 4}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--cores", type=int, default=8)
    p.add_argument("--gpus", type=int, default=4)
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "resources-sim.json")
    args = p.parse_args(argv)
    from hyperspark.ops.targets.local import LocalTarget

    rows = []
    with tempfile.TemporaryDirectory(prefix="hs-res-sim-") as tmp_s:
        tmp = Path(tmp_s)
        addresses = ",".join(str(i) for i in range(args.gpus))
        target = LocalTarget(tmp / "state", hdfs=False, gpus_per_worker=args.gpus, gpu_addresses=addresses,
                             **_ports())
        try:
            target.up(args.workers, worker_cores=args.cores)
            for rep in range(args.repeats):  # interleaved: each repeat runs every case once
                for case in CASES:
                    rows.append(_one(target, tmp, case, rep, args))
                    print(json.dumps(rows[-1]), flush=True)
        finally:
            target.down()
    summary = {case: {"slots": rows_[0]["slots"],
                      "efficiency_median": statistics.median(r["efficiency"] for r in rows_),
                      "efficiency_min": min(r["efficiency"] for r in rows_),
                      "efficiency_max": max(r["efficiency"] for r in rows_)}
               for case in CASES for rows_ in [[r for r in rows if r["case"] == case]]}
    out = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "runs": rows,
           "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(out, indent=2) + "\n")
    tmp_out.replace(args.out)
    for case, s in summary.items():
        print(f"{case:9s} slots {s['slots']:3d}  efficiency median {s['efficiency_median']:.3f} "
              f"(min {s['efficiency_min']:.3f}, max {s['efficiency_max']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
