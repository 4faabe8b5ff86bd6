"""Dispatch efficiency from 2 to 64 slots, by simulation (run by hand, not a test).

    .venv/bin/python benchmarks/scale_curve.py --slots 2,4,8,16,32,64 --seconds 1,0.1 --out bench-out/scale

Trials that only sleep (``null.sleep``) need no core, so this 2-core machine can hold 64 slots: for each
slot count S one fresh local cluster is started (``workers`` x ``S / workers`` cores: 2 workers up to 4
slots, 4 workers above, as ``hyperspark up --workers 4 --worker-cores 16`` would), and for each trial
length T one ``hyperspark bench --null-trials N --trial-seconds T`` runs on it, with
N = ``--waves`` x S trials (at least ``--min-trials``, rounded up to whole waves). Per point it records, from the run's summary:

* efficiency = ideal / search wall, ideal = N x T / S (every slot busy every moment);
* overhead per trial per slot = (search wall x S - sum of fit seconds) / N;
* driver CPU per trial (the driver's JVM + Python during the search): 1 / that is the ceiling on trials
  per second whatever the slot count.

Written to ``<out>/scale-curve.json`` (+ ``.md`` table). ``--set trial_tasks=per_trial`` measures the
one-Spark-job-per-trial executor instead. What the simulation does not show: network latency between
hosts (the driver and the executors share loopback here), contention for real cores (the trials sleep),
and executors' JVM memory at scale (64 slots here are 4 executors, not 64).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.ports: the one free-port helper


def layout(slots: int) -> tuple[int, int]:
    """(workers, cores per worker) for a slot count."""
    workers = 2 if slots <= 4 else 4
    if slots % workers:
        raise SystemExit(f"scale_curve: {slots} slots do not split over {workers} workers")
    return workers, slots // workers


def main(argv=None) -> int:
    from hyperspark.ops.bench import run_null_bench
    from hyperspark.ops.targets.local import LocalTarget
    from tests.integration.cluster_fixtures import cluster_ports

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slots", default="2,4,8,16,32,64")
    p.add_argument("--seconds", default="1,0.1", help="trial lengths, comma-separated")
    p.add_argument("--waves", type=int, default=8, help="trials per slot (N = waves x slots)")
    p.add_argument("--min-trials", type=int, default=100)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="spec override")
    p.add_argument("--out", type=Path, default=Path("bench-out/scale"))
    a = p.parse_args(argv)
    slots_list = [int(x) for x in a.slots.split(",")]
    seconds_list = [float(x) for x in a.seconds.split(",")]
    a.out.mkdir(parents=True, exist_ok=True)
    points = []
    for slots in slots_list:
        workers, cores = layout(slots)
        with tempfile.TemporaryDirectory(prefix="hs-scale-") as state:
            target = LocalTarget(Path(state), hdfs=False, **cluster_ports())
            try:
                t0 = time.monotonic()
                target.up(workers, worker_cores=cores, worker_memory="2g")
                up_s = time.monotonic() - t0
                for secs in seconds_list:
                    # whole waves: a half-full last wave would count as overhead what is only arithmetic
                    n = max(a.waves, -(-a.min_trials // slots)) * slots
                    print(f"scale_curve: {slots} slots ({workers}x{cores}), {n} trials of {secs:g}s", flush=True)
                    rep = run_null_bench(target, n, secs, a.out / f"s{slots}", overrides=list(a.set))
                    rep.update(workers=workers, cores_per_worker=cores, up_s=round(up_s, 1))
                    points.append(rep)
                    print(f"  efficiency {rep['efficiency']}, overhead {rep['overhead_ms_per_trial_per_slot']} ms, "
                          f"driver CPU {rep['driver_cpu_ms_per_trial']} ms/trial, search {rep['search_wall_s']} s "
                          f"(ideal {rep['ideal_s']:.2f} s)", flush=True)
            finally:
                target.down()
    result = {"command": "benchmarks/scale_curve.py " + " ".join(argv or sys.argv[1:]), "points": points,
              "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    (a.out / "scale-curve.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| trial s | slots | trials | search s | ideal s | efficiency | overhead ms/trial/slot | "
             "driver CPU ms/trial | requeued |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(points, key=lambda r: (-r["trial_seconds"], r["slots"])):
        lines.append(f"| {r['trial_seconds']:g} | {r['slots']} | {r['trials']} | {r['search_wall_s']:.2f} | "
                     f"{r['ideal_s']:.2f} | {r['efficiency']:.3f} | {r['overhead_ms_per_trial_per_slot']} | "
                     f"{r['driver_cpu_ms_per_trial']} | {r['trials_requeued']} |")
    (a.out / "scale-curve.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
