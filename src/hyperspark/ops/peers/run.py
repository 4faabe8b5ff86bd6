"""The side-by-side run: one cluster, every tool, every workload, ``repeats`` times, tools interleaved
(the order rotates each repeat so drift on a shared machine falls on every tool alike).

Sizes (``Plan``) default to the issue's: 200 null trials of 0.2 s and 100 of 1 s on every slot; the HGB
search on 50k x 30 rows, 3-fold CV, 48 trials, random and TPE; random search under successive halving
(max_iter 4 -> 108, reduction 3). ``short()`` is CI's: a few trials per tool on tiny data.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hyperspark.ops.peers import workloads as W
from hyperspark.ops.peers.tools import MODULES, TOOLS, Job, Outcome, Unsupported


@dataclass
class Plan:
    repeats: int = 3
    workers: int = 2
    cores: int = 4            # per worker: workers x cores = the dispatch slots
    fit_slots: int = 2        # concurrent trials in the HGB workloads (the machine's real cores)
    null: tuple = ((200, 0.2), (100, 1.0))
    rows: int = 50_000
    trials: int = 48
    asha_trials: int = 48
    tools: tuple = TOOLS
    workloads: tuple = ("null", "hgb-random", "hgb-tpe", "asha")

    @classmethod
    def short(cls) -> "Plan":
        return cls(repeats=1, workers=2, cores=2, fit_slots=2, null=((4, 0.2),), rows=600, trials=3,
                   asha_trials=3, workloads=("null", "hgb-tpe"))


@dataclass
class Record:
    repeat: int
    tool: str
    workload: str
    slots: int
    trials: int
    ok: bool
    reason: str = ""
    wall_s: float | None = None
    seconds: float | None = None    # null trials' sleep
    best: float | None = None
    evals: int = 0
    finals: int = 0
    cpu_s: float | None = None
    curve: list = field(default_factory=list)   # [(seconds since start, best so far)] over full-budget evals
    costs: list = field(default_factory=list)   # [(seconds since start, cumulative CPU s)] over all evals
    extra: dict = field(default_factory=dict)


def missing(tool: str) -> str | None:
    """Why a peer cannot run here (its package is not installed), or None."""
    mod = MODULES.get(tool)
    if mod and importlib.util.find_spec(mod) is None:
        return f"{mod} is not installed: pip install 'hyperspark[peers]'"
    if tool == "optuna-mlflow" and importlib.util.find_spec("mlflow.pyspark.optuna") is None:
        return "this mlflow has no mlflow.pyspark.optuna (MlflowSparkStudy): mlflow>=3.3 is needed"
    return None


def jobs(plan: Plan, data: str) -> list[tuple[str, Job]]:
    out = []
    for w in plan.workloads:
        if w == "null":
            out += [(f"null-{s:g}s", Job("null", n, seconds=s, slots=plan.workers * plan.cores)) for n, s in plan.null]
        elif w.startswith("hgb-"):
            out.append((w, Job("hgb", plan.trials, algo=w[4:], data=data, slots=plan.fit_slots)))
        elif w == "asha":
            out.append(("asha", Job("asha", plan.asha_trials, algo="random", data=data, slots=plan.fit_slots)))
    return out


def record(rep: int, tool: str, name: str, job: Job, o: Outcome) -> Record:
    finals = sorted((e for e in o.evals if e["final"]), key=lambda e: e["t_end"])
    curve, best = [], None
    for e in finals:
        best = e["score"] if best is None else max(best, e["score"])
        curve.append((round(e["t_end"] - o.t0, 3), best))
    costs, total = [], 0.0
    for e in sorted(o.evals, key=lambda e: e["t_end"]):
        total += e["cpu_s"]
        costs.append((round(e["t_end"] - o.t0, 3), round(total, 3)))
    return Record(rep, tool, name, job.slots, job.trials, True, wall_s=round(o.wall_s, 3),
                  seconds=job.seconds if job.kind == "null" else None, best=best, evals=len(o.evals),
                  finals=len(finals), cpu_s=round(total, 2), curve=curve, costs=costs, extra=o.extra)


def _runner(tool: str):
    from hyperspark.ops.peers import tools

    if tool == "ray-tune":
        from hyperspark.ops.peers.ray_tune import run_ray
        return run_ray
    return {"hyperspark": tools.run_hyperspark, "hyperopt": tools.run_hyperopt,
            "optuna-mlflow": tools.run_optuna}[tool]


def _tool_context(tool: str, plan: Plan):
    if tool != "ray-tune":
        return contextlib.nullcontext({})
    from hyperspark.ops.peers.ray_tune import ray_on_spark

    return ray_on_spark(plan.workers, plan.cores)


def one_tool(spark, ctx: dict, plan: Plan, rep: int, tool: str, tmp: Path, say) -> list[Record]:
    """Every workload through one tool (inside its own context: Ray's cluster on Spark)."""
    todo, out = jobs(plan, ctx["data"]), []
    why = missing(tool)
    if why:
        return [Record(rep, tool, n, j.slots, j.trials, False, reason=why) for n, j in todo]
    try:
        with _tool_context(tool, plan) as extra:
            for name, job in todo:
                job.seed = rep + 1
                out.append(_attempt(spark, {**ctx, **extra}, rep, tool, name, job, tmp, say))
                out[-1].extra.update(extra)
    except Exception as e:  # the tool's context itself failed (Ray's cluster did not start): every cell says why
        reason = _line(e)
        done = {r.workload for r in out}
        out += [Record(rep, tool, n, j.slots, j.trials, False, reason=reason) for n, j in todo if n not in done]
    return out


def _attempt(spark, ctx, rep, tool, name, job, tmp: Path, say) -> Record:
    t = time.monotonic()
    try:
        o = _runner(tool)(spark, job, str(tmp / f"{tool}-{name}-{rep}"), ctx)
        r = record(rep, tool, name, job, o)
        say(f"repeat {rep} {tool:14s} {name:11s} wall {r.wall_s:8.2f} s  best {r.best}  evals {r.evals}")
        return r
    except Unsupported as e:
        return Record(rep, tool, name, job.slots, job.trials, False, reason=str(e))
    except Exception as e:
        say(f"repeat {rep} {tool} {name} FAILED after {time.monotonic() - t:.0f} s: {_line(e)}")
        (tmp / f"fail-{tool}-{name}-{rep}.txt").write_text(traceback.format_exc())
        return Record(rep, tool, name, job.slots, job.trials, False, reason=_line(e))


def warm(spark, slots: int) -> None:
    """Start every slot's Python worker once, importing what the workloads import, before anything is
    timed: whichever tool ran first would otherwise pay for it alone."""
    def imp(it):
        import sklearn.ensemble  # noqa: F401

        import hyperspark.ops.peers.workloads  # noqa: F401
        return it
    spark.sparkContext.parallelize(range(slots), slots).mapPartitions(imp).count()


def _line(e: BaseException) -> str:
    """One line: the error and, when it wraps one (Ray's "Launch Ray-on-Spark cluster failed" does), the
    root cause, which is the finding."""
    msg = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
    cause = e.__cause__ or e.__context__
    while cause is not None and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        msg += f" (cause: {type(cause).__name__}: {' '.join(str(cause).split())[:300]})"
    return msg


def run(plan: Plan, cache: Path, say=print, partial=None) -> dict:
    """Everything, as a JSON-able dict (``records`` + the plan + load averages before and after).
    ``partial(result)``, when given, gets the result so far after each tool's turn (a long run that is
    stopped keeps its finished repeats)."""
    from hyperspark.ops.peers.env import cluster

    data = str(W.dataset(plan.rows, cache)) if any(w != "null" for w in plan.workloads) else ""
    load0, recs, t0 = os.getloadavg(), [], time.time()

    def result() -> dict:
        return {"plan": asdict(plan), "load_before": [round(x, 2) for x in load0],
                "load_after": [round(x, 2) for x in os.getloadavg()], "started": t0,
                "seconds": round(time.time() - t0, 1), "cpus": os.cpu_count(), "records": [asdict(r) for r in recs]}
    with tempfile.TemporaryDirectory(prefix="hs-peers-") as tmp, \
            cluster(Path(tmp) / "state", plan.workers, plan.cores) as (spark, ctx):
        ctx["data"] = data
        warm(spark, plan.workers * plan.cores)
        say(f"# cluster {ctx['master']} ({plan.workers} workers x {plan.cores} cores), mlflow {ctx['mlflow_uri']}")
        for rep in range(plan.repeats):
            order = list(plan.tools[rep % len(plan.tools):] + plan.tools[:rep % len(plan.tools)])
            for tool in order:
                recs += one_tool(spark, ctx, plan, rep, tool, Path(tmp), say)
                if partial is not None:
                    partial(result())
    return result()
