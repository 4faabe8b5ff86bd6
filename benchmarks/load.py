"""Load run: many tiny trials through ONE search on a real local cluster (run by hand, not a test).

    .venv/bin/python benchmarks/load.py --trials 100,500 --workers 2 --out load-out

For each trial count N it starts nothing new: one local cluster (``--workers`` x 1 core, fresh state
dir, free ports, no HDFS) serves every run, and each run is one ``submit`` of a grid of N depth-1
decision trees on the bundled breast-cancer data (``space: {max_depth: [1], min_samples_leaf: [1..N]}``),
or of N zero-second null trials with ``--model null.sleep``. While the driver runs, its processes (the
spark-submit JVM and the Python driver it starts) are sampled with psutil every 0.1 s.

Printed per run (and written to ``<out>/load.json``):

* ``rows`` / ``distinct`` / ``ok``: rows in trials.jsonl, distinct trial ids, rows with status ok
  (no result lost: all three equal N);
* ``peak_rss_mb``: the driver's peak RSS (JVM + Python driver, summed per sample), and each part's peak;
* ``overhead_ms``: per-trial scheduling overhead = (search wall x slots - sum of fit seconds) / trials;
* ``driver_cpu_ms_per_trial``: CPU the driver (JVM + Python) spent in the search phase per trial, which
  load on the machine does not inflate the way it inflates wall time.

The cluster is always stopped (by recorded pid), also on Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data" / "breast_cancer.csv"
sys.path.insert(0, str(REPO))  # tests.ports: the one free-port helper


def spec_for(n: int, model: str, out: Path) -> dict:
    if model == "null.sleep":
        space = {"seconds": [0.0], "trial": list(range(n))}
    else:
        space = {"max_depth": [1], "min_samples_leaf": list(range(1, n + 1))}
    return {"name": f"load-{n}", "dataset": {"uri": str(DATA), "label": "target"}, "model": model,
            "search": {"type": "grid"}, "space": space, "metric": "roc_auc", "cv_folds": 3, "seed": 1,
            "output": str(out)}


class DriverSampler(threading.Thread):
    """Peak RSS of this process's descendants that are the driver: the spark-submit JVM and tune.py."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.stop_event = threading.Event()
        self.peak_total = 0
        self.peak = {"jvm": 0, "python": 0}
        self.samples = 0

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop_event.is_set():
            parts = {"jvm": 0, "python": 0}
            try:
                kids = me.children(recursive=True)
            except psutil.Error:
                kids = []
            for p in kids:
                try:
                    cmd = " ".join(p.cmdline())
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                if "org.apache.spark.deploy.SparkSubmit" in cmd:
                    parts["jvm"] += rss
                elif "tune.py" in cmd and "java" not in p.name():
                    parts["python"] += rss
            if parts["jvm"] or parts["python"]:
                self.samples += 1
                self.peak_total = max(self.peak_total, parts["jvm"] + parts["python"])
                for k, v in parts.items():
                    self.peak[k] = max(self.peak[k], v)
            self.stop_event.wait(self.interval)


def one_run(target, n: int, model: str, work: Path) -> dict:
    from hyperspark.job.protocol import RunSummary, parse_trials

    spec_path = work / f"load-{n}.yaml"
    spec_path.write_text(yaml.safe_dump(spec_for(n, model, work / "runs")))
    sampler = DriverSampler()
    sampler.start()
    t0 = time.monotonic()
    try:
        res = target.submit(spec_path, run_id=f"load-{n}-{int(time.time())}")
    finally:
        sampler.stop_event.set()
        sampler.join()
    wall = time.monotonic() - t0
    if res.exit_code != 0:
        raise SystemExit(f"run of {n} trials failed: {res.error} (log: {target.state.log_file('driver')})")
    out = Path(res.output_uri.replace("file://", ""))
    rows = parse_trials((out / "trials.jsonl").read_text())
    summary = RunSummary.model_validate_json((out / "summary.json").read_text())
    search = summary.timings["search"]
    slots = summary.cluster.slots
    fit = sum(r.fit_seconds or 0.0 for r in rows)
    mb = 1024 * 1024
    return {
        "trials": n, "model": model, "rows": len(rows), "distinct": len({r.trial_id for r in rows}),
        "ok": sum(r.ok for r in rows), "slots": slots, "search_s": search, "submit_wall_s": round(wall, 1),
        "sum_fit_s": round(fit, 2), "overhead_ms": round(1000 * (search * slots - fit) / n, 1),
        "peak_rss_mb": round(sampler.peak_total / mb), "peak_jvm_mb": round(sampler.peak["jvm"] / mb),
        "peak_python_mb": round(sampler.peak["python"] / mb), "rss_samples": sampler.samples,
        "driver_cpu_ms_per_trial": (round(1000 * summary.timings["driver_cpu_search"] / n, 1)
                                    if "driver_cpu_search" in summary.timings else None),
        "load_avg_1m": round(psutil.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", default="100,500", help="comma-separated trial counts (one search each)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="sklearn.decision_tree", choices=["sklearn.decision_tree", "null.sleep"])
    ap.add_argument("--out", type=Path, default=Path("load-out"))
    args = ap.parse_args()
    counts = [int(x) for x in args.trials.split(",") if x.strip()]

    from hyperspark.ops.targets.local import LocalTarget

    from tests.integration.cluster_fixtures import cluster_ports

    ports = cluster_ports()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="hs-load-") as tmp:
        work = Path(tmp)
        target = LocalTarget(work / "state", hdfs=False, **ports)
        try:
            target.up(args.workers)
            for n in counts:
                r = one_run(target, n, args.model, work)
                print(json.dumps(r), flush=True)
                results.append(r)
        finally:
            target.down()
    (args.out / "load.json").write_text(json.dumps(results, indent=2) + "\n")
    lost = [r for r in results if not (r["rows"] == r["distinct"] == r["ok"] == r["trials"])]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
