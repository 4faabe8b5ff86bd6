"""Cold submits with and without the local target's JVM start-up flags (ops/targets/local/jvm.py), A/B.

One real local cluster (2 workers x 1 core, no HDFS), then N interleaved pairs of cold submits of the same
small spec (4 sleeping objective trials of 0.5 s): "off" = no class-data archive and the JVM's default
compiler for the driver, "on" = the archive for driver and executors, C1 for the driver. Per submit: the
wall time of the whole submit and the job's own phases (summary.timings: session, load, warmup, search),
plus the load average, since a 2-core machine is rarely quiet.

    .venv/bin/python benchmarks/cold_start.py [--pairs 3] [--out docs/bench/cold-start.json]

``--breakdown N`` instead: N cold submits with the flags on, each split into its phases by
``hyperspark.ops.breakdown`` (the kit's clock, the driver's process table, the job's timers), medians
written to ``docs/bench/cold-start-breakdown.json`` and ``.md``.
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

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from resources_sim import _ports  # noqa: E402 - one free-port helper for the benchmarks

PHASES = ("session", "load", "warmup", "search")


def _spec(tmp: Path) -> Path:
    spec = {"name": "cold", "dataset": {"uri": str(REPO / "examples" / "data" / "breast_cancer.csv"), "label": "target"},
            "objective": "hyperspark.job.null_model:sleep_objective", "search": {"type": "grid"},
            "space": {"x": [1, 2, 3, 4], "seconds": [0.5]}, "output": str(tmp / "runs")}
    path = tmp / "cold.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _one(target, spec: Path, mode: str, i: int) -> dict:
    from hyperspark.ops.targets.local import jvm

    os.environ["HYPERSPARK_JVM_ARCHIVE"] = "1" if mode == "on" else "0"
    jvm.DRIVER_FLAGS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" if mode == "on" else ""
    load = os.getloadavg()[0]
    started = time.monotonic()
    res = target.submit(spec, run_id=f"cold-{mode}-{i}", cold=True)
    wall = time.monotonic() - started
    if res.exit_code != 0:
        raise SystemExit(f"cold_start: {mode} failed: {res.error}")
    return {"mode": mode, "i": i, "wall_s": round(wall, 2), "loadavg": round(load, 1),
            **{p: res.summary.timings.get(p) for p in PHASES}}


def _breakdown(target, spec: Path, n: int, out: Path) -> int:
    from hyperspark.ops.breakdown import COLD_START, PHASES, cold_breakdown

    runs = [cold_breakdown(target, spec, run_id=f"breakdown-{i}") for i in range(n)]
    mid = sorted(runs, key=lambda r: r["total_s"])[n // 2]  # one real run: its phases add up to its total
    keys = ("total_s", "other_s", "cold_start_s", "loadavg")
    summary = {"n": n, "median_run": mid, **{k: round(statistics.median(r[k] for r in runs), 3) for k in keys},
               "range": {k: [min(r[k] for r in runs), max(r[k] for r in runs)] for k in keys}, "runs": runs,
               "command": "benchmarks/cold_start.py --breakdown " + str(n),
               "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    lines = [f"Cold submit of the 4-trial sleep spec on 2 local workers: the run with the median total of {n} "
             f"(load average {summary['range']['loadavg'][0]}-{summary['range']['loadavg'][1]}), each phase's "
             "range over all runs beside it; `*` = the README's cold start (session + executors + load + "
             "prestart wait + warm-up).", "",
             "| phase | seconds | share | range over runs |", "|---|---|---|---|"]
    for ph in PHASES:
        star = " *" if ph in COLD_START else ""
        vals = [r["phases"].get(ph, 0.0) for r in runs]
        lines.append(f"| {ph}{star} | {mid['phases'].get(ph, 0.0):.2f} | "
                     f"{100 * mid['phases'].get(ph, 0.0) / mid['total_s']:.0f}% | {min(vals):.2f}-{max(vals):.2f} |")
    lines += [f"| other (no phase) | {mid['other_s']:.2f} | | |", f"| **total** | {mid['total_s']:.2f} | | "
              f"{summary['range']['total_s'][0]:.2f}-{summary['range']['total_s'][1]:.2f} |",
              f"| cold start * | {mid['cold_start_s']:.2f} | | "
              f"{summary['range']['cold_start_s'][0]:.2f}-{summary['range']['cold_start_s'][1]:.2f} |"]
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((out, json.dumps(summary, indent=2) + "\n"), (out.with_suffix(".md"), "\n".join(lines) + "\n")):
        tmp_out = path.with_suffix(path.suffix + ".tmp")
        tmp_out.write_text(text)
        tmp_out.replace(path)
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--breakdown", type=int, default=0, metavar="N", help="N cold submits split into phases")
    args = p.parse_args(argv)
    name = "cold-start-breakdown.json" if args.breakdown else "cold-start.json"
    args.out = args.out or REPO / "docs" / "bench" / name
    from hyperspark.ops.targets.local import LocalTarget, jvm
    from hyperspark.ops.targets.local.daemons import spark_home
    from hyperspark.ops.util.java import java_binary

    with tempfile.TemporaryDirectory(prefix="hs-cold-") as d:
        tmp = Path(d)
        target = LocalTarget(tmp / "state", hdfs=False, **_ports())
        try:
            target.up(2)
            archive = jvm.archive_path(spark_home(), java_binary())
            deadline = time.monotonic() + 600
            while not archive.is_file() and time.monotonic() < deadline:
                time.sleep(1)
            spec = _spec(tmp)
            if args.breakdown:
                return _breakdown(target, spec, args.breakdown, args.out)
            runs = [_one(target, spec, mode, i) for i in range(args.pairs) for mode in ("off", "on")]
        finally:
            target.down()
    summary = {mode: {k: statistics.median(r[k] for r in runs if r["mode"] == mode) for k in ("wall_s", *PHASES)}
               for mode in ("off", "on")}
    out = {"pairs": args.pairs, "runs": runs, "median": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(out, indent=2) + "\n")
    tmp_out.replace(args.out)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
