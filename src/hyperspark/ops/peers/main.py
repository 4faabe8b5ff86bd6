"""The peers benchmark's command line (``benchmarks/peers.py`` and ``hyperspark bench --peers``)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

from hyperspark.ops.peers.run import Plan, run
from hyperspark.ops.peers.tools import TOOLS


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/peers.py", description="HyperSpark against hyperopt, Optuna "
                                "(MLflow's Spark study) and Ray Tune on one local Spark cluster")
    p.add_argument("--short", action="store_true", help="CI's size: a few trials per tool, tiny data, 1 repeat")
    p.add_argument("--repeats", type=int)
    p.add_argument("--rows", type=int, help="rows of the HGB data (default 50000)")
    p.add_argument("--trials", type=int, help="trials of the HGB searches (default 48)")
    p.add_argument("--asha-trials", type=int, help="configurations under successive halving (default 48)")
    p.add_argument("--null", help="null workloads, TRIALSxSECONDS comma-separated (default 200x0.2,100x1)")
    p.add_argument("--cores", type=int, help="cores each of the 2 workers declares (slots = 2 x cores; default 4)")
    p.add_argument("--tools", help=f"comma-separated subset of {','.join(TOOLS)}")
    p.add_argument("--workloads", help="comma-separated subset of null,hgb-random,hgb-tpe,asha")
    p.add_argument("--out", type=Path, default=Path("docs/bench/peers"), help="output stem (.json, .md, -anytime.png)")
    return p.parse_args(argv)


def plan_from(a: argparse.Namespace) -> Plan:
    plan = Plan.short() if a.short else Plan()
    ch = {k: v for k, v in (("repeats", a.repeats), ("rows", a.rows), ("trials", a.trials),
                            ("asha_trials", a.asha_trials), ("cores", a.cores)) if v is not None}
    if a.null:
        ch["null"] = tuple((int(n), float(s)) for n, s in (x.split("x") for x in a.null.split(",")))
    if a.tools:
        bad = set(a.tools.split(",")) - set(TOOLS)
        if bad:
            raise SystemExit(f"peers: unknown tool(s) {', '.join(sorted(bad))}; known: {', '.join(TOOLS)}")
        ch["tools"] = tuple(a.tools.split(","))
    if a.workloads:
        ch["workloads"] = tuple(a.workloads.split(","))
    return replace(plan, **ch)


def main(argv=None) -> int:
    from rich.console import Console

    from hyperspark.ops.peers import report

    a = parse(argv)
    try:
        plan = plan_from(a)
    except ValueError as e:
        print(f"peers: bad size: {e}", file=sys.stderr)
        return 2
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hyperspark" / "bench-data"
    command = " ".join(["benchmarks/peers.py", *(argv if argv is not None else sys.argv[1:])])
    # SIGTERM unwinds like Ctrl-C: Ray on Spark, the MLflow server and the cluster's JVMs are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def partial(res: dict) -> None:
        report.write({**res, "command": command, "partial": True}, a.out)

    result = run(plan, cache, say=lambda m: print(m, flush=True), partial=partial)
    result["command"] = command
    tab = report.write(result, a.out)
    Console().print(report.rich_table(result, tab))
    print(f"load average before {result['load_before']}, after {result['load_after']}; {result['seconds']} s; "
          f"wrote {a.out}.json, {a.out}.md, {a.out}-anytime.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
