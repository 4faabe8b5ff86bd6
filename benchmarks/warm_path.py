"""The whole submit against joblib in one process, cold and on the warm driver (issue: cold start).

One real local cluster (2 workers x 1 core, no HDFS) with the warm driver (``up --warm``), the demo's
benchmark spec (``benchmarks/specs/rf16-small.yaml``: 16 random-forest trials, 3-fold CV, 20k rows) and
its data uploaded as ``hyperspark bench`` does. One warm submit first, untimed (it pays the executors' and
Python workers' start, as the first submit of a notebook session does); then ``--repeats`` rounds of a warm
submit and joblib ``n_jobs=2`` in one fresh process (the bench's baseline), interleaved; then the warm
driver is stopped (it would hold the executors a cold driver needs) and ``--repeats`` rounds of a cold
submit (a fresh spark-submit) and joblib. Wall time of each whole command (what a user waits for).

    .venv/bin/python benchmarks/warm_path.py [--repeats 3] [--out docs/bench/warm-path.json]

Targets (issue 22): whole warm submit <= 1.05 x joblib n_jobs=2, whole cold submit <= 1.25 x.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from resources_sim import _ports  # noqa: E402 - one free-port helper for the benchmarks


def _submit(target, spec: Path, run_id: str, cold: bool) -> dict:
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    res = target.submit(spec, run_id=run_id, cold=cold)
    wall = time.monotonic() - t0
    if res.exit_code != 0 or res.summary is None:
        raise SystemExit(f"warm_path: {run_id} failed: {res.error}")
    t = res.summary.timings
    return {"kind": "cold" if cold else "warm", "run_id": run_id, "wall_s": round(wall, 3),
            "search_s": t.get("search"), "cv_score": res.summary.cv_score, "loadavg": round(load, 2)}


def _joblib(spec: Path, csv: Path, i: int) -> dict:
    from hyperspark.ops.bench import run_baseline

    load = os.getloadavg()[0]
    row = run_baseline(spec, csv, 2, i)
    return {"kind": "joblib2", "run_id": row.run_id, "wall_s": row.wall_s, "search_s": row.search_s,
            "cv_score": row.cv_score, "loadavg": round(load, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "warm-path.json")
    args = p.parse_args(argv)
    from hyperspark.ops.bench import _stage, default_spec_path, prepare_spec
    from hyperspark.ops.targets.local import LocalTarget, warm

    with tempfile.TemporaryDirectory(prefix="hs-warm-") as d:
        tmp = Path(d)
        target = LocalTarget(tmp / "state", hdfs=False, **_ports())
        try:
            target.up(2)
            target.start_warm()
            spec_dict, csv = prepare_spec(default_spec_path("rf16-small.yaml"), tmp, [])
            spec = _stage(target, spec_dict, csv, tmp, lambda s: None)
            target.wait_idle()
            _submit(target, spec, "warm-first", cold=False)  # untimed: the warm driver's executors start
            runs = []
            for i in range(args.repeats):
                runs.append(_submit(target, spec, f"warm-{i}", cold=False))
                runs.append(_joblib(spec, csv, i))
            # the warm driver holds the executors for its idle timeout: a cold submit beside it would wait
            # for them, so the cold rounds run after it is stopped
            warm.stop(target)
            for i in range(args.repeats):
                runs.append(_submit(target, spec, f"cold-{i}", cold=True))
                runs.append(_joblib(spec, csv, args.repeats + i))
        finally:
            target.down()
    med = {k: statistics.median(r["wall_s"] for r in runs if r["kind"] == k) for k in ("warm", "cold", "joblib2")}
    out = {"repeats": args.repeats, "median_wall_s": med,
           "warm_over_joblib2": round(med["warm"] / med["joblib2"], 3),
           "cold_over_joblib2": round(med["cold"] / med["joblib2"], 3),
           "loadavg": [min(r["loadavg"] for r in runs), max(r["loadavg"] for r in runs)], "runs": runs,
           "command": "benchmarks/warm_path.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(out, indent=2) + "\n")
    tmp_out.replace(args.out)
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
