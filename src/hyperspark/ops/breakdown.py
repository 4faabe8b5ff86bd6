"""Where a cold submit's seconds go: one ``submit --cold``, split into its phases (issue: cold start).

Three clocks, each measuring its own phases, none derived from the total:

* this process (the kit): ``prepare`` (the call -> the target starts spark-submit: spec checks, the
  master's status, the GPU conf) and ``stop_exit`` (the job's RESULT line -> the call returns: the driver's
  ``spark.stop()``, its JVM's exit, the summary read back);
* the driver's process table (``job/session.process_timings``): ``jvm_start`` (spark-submit's bash scripts,
  Spark's launcher JVM and the driver JVM, until it starts Python), ``python_start`` (the interpreter and
  the job's imports);
* the job's own monotonic timers (``summary.timings``): ``spec``, ``session`` (SparkContext + event log),
  ``executors`` (registration; part of the job's "load"), the rest of ``load`` (read + split), the MLflow
  start, ``prestart_wait`` (Python workers still starting when the load is done), ``warmup``, ``search``,
  ``search_teardown``, ``refit``, ``write``.

``other`` = total - the sum: time no phase owns (small when the breakdown is complete; the test of this
module asserts it is). The history server is not on a submit's path: it reads event logs written during
``session`` and after ``stop_exit``, on its own.
"""
from __future__ import annotations

import time
from pathlib import Path

from hyperspark.job.protocol import RESULT_PREFIX
from hyperspark.ops.model import OpsError
from hyperspark.ops.targets.base import Target

#: the phases in the order they happen; ``load`` here excludes ``executors`` (timed apart)
PHASES = ("prepare", "jvm_start", "python_start", "spec", "session", "executors", "load",
          "tracking_start", "prestart_wait", "warmup", "search", "search_teardown", "refit", "write",
          "stop_exit")
#: the cold-start figure the README quotes: from the driver's session to the first trial
COLD_START = ("session", "executors", "load", "prestart_wait", "warmup")


def cold_breakdown(target: Target, spec: Path, run_id: str, overrides: list[str] | None = None) -> dict:
    """One cold submit of ``spec`` on ``target``, timed by phase; ``{"phases", "total_s", "other_s",
    "missing", "loadavg"}``. A failed submit raises OpsError (a breakdown of a failure means nothing)."""
    import os

    marks: dict[str, float] = {}

    def sink(line: str) -> None:
        if line.startswith(RESULT_PREFIX):
            marks["result"] = time.time()

    load = os.getloadavg()[0]
    t0 = time.time()  # epoch: the driver's launch is stamped by the target in epoch seconds
    res = target.submit(spec, run_id=run_id, cold=True, on_line=sink, overrides=list(overrides or []))
    t_end = time.time()
    if res.exit_code != 0 or res.summary is None:
        raise OpsError(f"cold breakdown: the submit failed: {res.error or f'exit {res.exit_code}'}")
    if res.launched_at is not None:
        marks["launch"] = res.launched_at
    return split(res.summary.timings, t0, marks, t_end, load)


def split(timings: dict[str, float], t0: float, marks: dict[str, float], t_end: float, load: float) -> dict:
    """The phases from the job's ``timings`` and the kit's marks (epoch seconds)."""
    kit = {}
    if "launch" in marks:
        kit["prepare"] = marks["launch"] - t0
    if "result" in marks:
        kit["stop_exit"] = t_end - marks["result"]
    job = dict(timings)
    if "load" in job and "executors" in job:
        job["load"] = job["load"] - job["executors"]
    phases, missing = {}, []
    for name in PHASES:
        value = kit.get(name, job.get(name))
        if value is None:
            missing.append(name)
        else:
            phases[name] = round(max(0.0, value), 3)
    total = t_end - t0
    return {"phases": phases, "total_s": round(total, 3), "other_s": round(total - sum(phases.values()), 3),
            "cold_start_s": round(sum(phases.get(p, 0.0) for p in COLD_START), 3), "missing": missing,
            "loadavg": round(load, 2)}
