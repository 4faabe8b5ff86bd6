"""Spark Connect vs a classic session on the SAME 2-worker standalone cluster (issue 19). Run by hand:

    .venv/bin/python benchmarks/connect.py [--trials 24] [--seconds 1.0] [--null-trials 60] [--repeats 2]

Starts a local cluster (``LocalTarget``, 2 workers x 1 core, no HDFS, free ports), then, one after the other
so each has every core:

* **classic**: a plain Python driver (``SparkSession.builder.master(spark://...)``, as a notebook makes it)
  runs ``hyperspark.tune`` (transport ``pull``);
* **connect**: a Spark Connect server attached to the same master
  (``hyperspark.ops.targets.local.connect.start``) and a client process running the same calls with
  ``spark="sc://..."`` (transport ``connect``).

Each runs, ``--repeats`` times, the same two searches: ``--trials`` trials of an objective that sleeps
``--seconds`` (the wall-time ratio for ~1 s trials), and ``--null-trials`` trials that return at once (the
overhead per trial: the search phase's seconds x slots / trials). Prints one JSON line per run and a
summary table (medians). The clients are subprocesses, each with its own session.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

OBJECTIVES = textwrap.dedent("""
    import time

    def sleepy(params, data, budget):
        time.sleep(params["seconds"])
        return float(params["i"])

    def null(params, data, budget):
        return float(params["i"])
""")

CLIENT = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, sys.argv[4])
    spark_arg, out, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if spark_arg.startswith("spark://"):
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master(spark_arg).appName("bench-classic")
                 .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    else:
        spark = spark_arg
    import hyperspark

    module = os.path.join(sys.argv[4], "hs_bench_obj.py")
    for rep in range(spec["repeats"]):
        for name, n, secs in (("sleep", spec["trials"], spec["seconds"]), ("null", spec["null_trials"], 0.0)):
            t0 = time.monotonic()
            r = hyperspark.tune(objective=f"hs_bench_obj:{'sleepy' if secs else 'null'}", py_files=[module],
                                space={"i": list(range(n)), "seconds": [secs]}, data="file:///none",
                                search="grid", direction="minimize", spark=spark, output=out, progress=False)
            wall = time.monotonic() - t0
            s = r.summary
            print(json.dumps({"search": name, "repeat": rep, "trials": n, "wall_s": round(wall, 3),
                              "search_s": s.timings["search"], "warmup_s": s.timings.get("warmup"),
                              "slots": s.cluster.slots, "transport": s.shipping["transport"],
                              "overhead_ms_per_trial_slot": round(1000 * (s.timings["search"] * s.cluster.slots
                                                                          / n - secs), 1)}), flush=True)
""")


def _client(spark_arg: str, out: Path, spec: dict, mods: Path) -> list[dict]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1",
           "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", CLIENT, spark_arg, str(out), json.dumps(spec), str(mods)],
                          env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"client failed ({spark_arg}): {done.stderr[-3000:]}")
    rows = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    for r in rows:
        r["session"] = "connect" if spark_arg.startswith("sc://") else "classic"
        print(json.dumps(r), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--null-trials", type=int, default=60)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    from hyperspark.ops.targets.local import LocalTarget
    from hyperspark.ops.targets.local import connect
    from tests.integration.cluster_fixtures import cluster_ports
    from tests.ports import free_port

    spec = {"trials": a.trials, "seconds": a.seconds, "null_trials": a.null_trials, "repeats": a.repeats}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="hs-bench-connect-") as tmp:
        tmp = Path(tmp)
        (tmp / "mods").mkdir()
        (tmp / "mods" / "hs_bench_obj.py").write_text(OBJECTIVES)
        target = LocalTarget(tmp / "state", hdfs=False, **cluster_ports())
        try:
            t0 = time.monotonic()
            target.up(2)
            print(f"# cluster up in {time.monotonic() - t0:.1f} s: {target.master_url}", flush=True)
            # the cluster's RPC secret for the drivers started here (what `status` prints): the classic client
            # and the bare Connect server read SPARK_CONF_DIR/spark-defaults.conf
            from hyperspark.ops.targets.local import auth

            os.environ["SPARK_CONF_DIR"] = str(auth.client_conf_dir(target.state))
            rows += _client(target.master_url, tmp / "runs-classic", spec, tmp / "mods")
            server = connect.start(free_port(), target.master_url, tmp / "connect",
                                   conf={"spark.hyperspark.expectedExecutors": "2"})
            try:
                rows += _client(server.url, tmp / "runs-connect", spec, tmp / "mods")
            finally:
                connect.stop(server)
        finally:
            target.down()
    _table(rows)
    return 0


def _table(rows: list[dict]) -> None:
    def med(session: str, search: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["session"] == session and r["search"] == search)

    print("\n| measure | classic (pull) | Spark Connect | ratio |\n|---|---|---|---|")
    for search, key, label in (("sleep", "wall_s", "sleeping trials: tune() wall s"),
                               ("sleep", "search_s", "sleeping trials: search phase s"),
                               ("null", "overhead_ms_per_trial_slot", "null trials: overhead ms per trial per slot")):
        c, k = med("classic", search, key), med("connect", search, key)
        print(f"| {label} | {c:g} | {k:g} | {k / c:.2f}x |" if c else f"| {label} | {c:g} | {k:g} | - |")


if __name__ == "__main__":
    sys.exit(main())
