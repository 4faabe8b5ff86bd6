"""The pre-search import check: can the executors' Python run this run's trials? One line if not.

``hyperspark.tune`` on a session the USER made runs it before any trial: one tiny task per slot (at most
:data:`MAX_PROBES`) imports what trials need (HyperSpark's job, the model library or the user's module by
reference; pandas and pyarrow on Spark Connect) and reports the executor, its host and the interpreter
that ran it. Then:

* everything imports: go on;
* only HyperSpark's own package is missing (a cluster without HyperSpark, a worker Python outside the
  venv that has the libraries): ship it (``package.own_package_zip``: ``addPyFile``, or the Connect artifact
  API), check again, go on;
* anything else (scikit-learn, the user's package, pydantic), a Python worker that does not start (a
  ``python3`` on PATH that is not the venv's), another Python version: ONE ``JobError`` line naming the
  module, the executor, the interpreter and the fix (``PYSPARK_PYTHON=<this interpreter>`` before the
  session is created). Spark's own log is silenced while the probe runs, so no wall of Java and Python
  traces reaches the user (a crashing worker is retried ``spark.task.maxFailures`` times on a cluster).

The probe is compiled from :data:`PROBE_SOURCE` into a module that is not importable, so cloudpickle
ships it BY VALUE: it runs in a worker that cannot import ``hyperspark`` at all.
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, Callable

from hyperspark.errors import JobError

MAX_PROBES = 64
OWN = "hyperspark"

PROBE_SOURCE = '''
import importlib, json, os, socket, sys

def probe(modules):
    cwd = os.getcwd()
    eid = os.path.basename(cwd) if os.path.basename(os.path.dirname(cwd)).startswith("app-") else "driver"
    missing = {}
    for m in modules:
        try:
            importlib.import_module(m)
        except BaseException as e:
            missing[m] = [getattr(e, "name", None) or m, (type(e).__name__ + ": " + str(e)).splitlines()[0][:200]]
    return json.dumps({"executor": eid, "host": socket.gethostname(), "pid": os.getpid(),
                       "python": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
                       "missing": missing})

def classic_task(modules):
    def run(_it):
        return [probe(modules)]
    return run

def connect_task(modules):
    def run(batches):
        import pandas as pd
        for _ in batches:
            pass
        yield pd.DataFrame({"info": [probe(modules)]})
    return run
'''


def _probe_namespace() -> dict:
    ns: dict[str, Any] = {"__name__": "hs_preflight_probe"}  # not in sys.modules: pickled by value
    exec(compile(PROBE_SOURCE, "<preflight probe>", "exec"), ns)  # noqa: S102 - our own constant source
    return ns


# --------------------------------------------------------------------------- what trials import
def trial_modules(spec, connect: bool = False) -> list[str]:
    """Modules a trial of ``spec`` imports on an executor: the job's, the model library (or the user's
    module by reference), and on Connect pandas + pyarrow (the UDF's own)."""
    from hyperspark.job import usercode as U

    mods = ["hyperspark.job.executors.trial"]
    if connect:
        mods += ["pandas", "pyarrow", "hyperspark.job.executors.connect"]
    target = spec.target
    if U.is_import_path(target):
        mods.append(target.partition(":")[0])
    elif U.is_object_key(target):
        obj = U._OBJECTS.get(target)
        mod = U.module_of(obj) if obj is not None else None
        if mod and mod != "__main__" and U.local_package(obj) is None and "<locals>" not in mod:
            mods.append(mod)
    elif not spec.is_objective and spec.model_def.library != "mllib":
        d = spec.model_def
        mods += sorted({p.partition(":")[0] for p in (d.classifier, d.regressor) if p})
    return list(dict.fromkeys(mods))


# --------------------------------------------------------------------------- the check
#: (application id, executor ids, modules) that passed, with their reports: in one session the same
#: executor processes with the same modules pass again, so a notebook's or a benchmark's second ``tune()``
#: skips the probe job. New executors (a worker added or lost) are another key: probed again.
_PASSED: dict[tuple, list[dict]] = {}


def _passed_key(spark, modules: list[str], connect: bool) -> tuple | None:
    """The memo key of a classic session (Connect: None, its executors are not visible from the client)."""
    if connect:
        return None
    try:
        jsc = spark.sparkContext._jsc.sc()
        ids = tuple(sorted(str(jsc.getExecutorIds().mkString(",")).split(",")))
        return (spark.sparkContext.applicationId, ids, tuple(modules))
    except Exception:  # noqa: BLE001 - no memo, the probe runs
        return None


def check(spark, spec, connect: bool, slots: int, log: Callable[[str], Any] = print) -> list[dict]:
    """Probe every slot (one task each); ship HyperSpark when only it is missing; else one JobError line.
    Executors that passed this check for the same modules earlier in this session are not probed again."""
    modules = trial_modules(spec, connect)
    key = _passed_key(spark, modules, connect)
    if key is not None and key in _PASSED:
        return _PASSED[key]
    infos = probe(spark, modules, slots, connect)
    problem = _first_missing(infos)
    if problem is not None and problem[1].startswith(OWN):
        where = ship_own_package(spark, connect)
        log(f"hyperspark: executor {problem[0]['executor']} ({problem[0]['python']}) has no HyperSpark: "
            f"shipped the job's package ({where})")
        infos = probe(spark, modules, slots, connect)
        problem = _first_missing(infos)
    if problem is not None:
        raise JobError(missing_line(*problem, connect=connect))
    mismatch = _version_mismatch(infos, connect)
    if mismatch is not None:
        raise JobError(mismatch)
    if key is not None:
        _PASSED[_passed_key(spark, modules, connect) or key] = infos  # the ids after any shipping
    return infos


def ship_own_package(spark, connect: bool) -> str:
    from hyperspark.job import package

    z = str(package.own_package_zip())
    package.add_pyfile(spark, z, connect)
    return z


def probe(spark, modules: list[str], slots: int, connect: bool) -> list[dict]:
    """One probe task per slot (at most MAX_PROBES) -> their reports; a job that fails is one JobError line."""
    ns = _probe_namespace()
    n = max(1, min(int(slots), MAX_PROBES))
    try:
        if connect:
            df = spark.range(0, n, 1, n).mapInPandas(ns["connect_task"](modules), "info string")
            rows = [r[0] for r in df.collect()]
        else:
            rows = _quiet(spark.sparkContext, lambda sc: sc.parallelize(range(n), n)
                          .mapPartitions(ns["classic_task"](modules)).collect())
    except JobError:
        raise
    except Exception as e:  # noqa: BLE001 - the worker did not start, crashed, or lacks pandas: one line
        where = None if connect else _failed_executor(spark.sparkContext)
        raise JobError(failed_line(e, _python_exec(spark, connect), connect, where)) from None
    return [json.loads(r) for r in rows]


#: the loggers that write a failed probe task's traces on the driver (every retry), silenced while it runs
NOISY_LOGGERS = ("org.apache.spark.scheduler.TaskSetManager", "org.apache.spark.scheduler.TaskSchedulerImpl",
                 "org.apache.spark.scheduler.DAGScheduler", "org.apache.spark.executor.Executor",
                 "org.apache.spark.api.python")


GROUP = "hyperspark-preflight"


def _quiet(sc, fn):
    """Run ``fn(sc)`` in the probe's job group, with the loggers that would print a failed probe's traces
    off; then put exactly those loggers (and this thread's job group) back (the root level and the shell's
    console threshold are never touched)."""
    group = sc.getLocalProperty("spark.jobGroup.id")
    sc.setLocalProperty("spark.jobGroup.id", GROUP)
    try:
        return _silenced(sc, fn)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", group)


def _failed_executor(sc, wait_s: float = 3.0) -> str | None:
    """``executor ID (host)`` of the probe's failed task, from Spark's status store (Spark 4 hands a task's
    own error to the driver without saying where it ran); None when it cannot tell."""
    import time

    deadline = time.monotonic() + wait_s
    try:
        while True:
            tracker = sc.statusTracker()
            for job in sorted(tracker.getJobIdsForGroup(GROUP), reverse=True)[:1]:
                for stage in tracker.getJobInfo(job).stageIds:
                    tasks = sc._jsc.sc().statusStore().taskList(stage, 0, 1000)
                    for i in range(tasks.size()):
                        t = tasks.apply(i)
                        if str(t.status()) == "FAILED":
                            return f"executor {t.executorId()} ({t.host()})"
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)
    except Exception:  # noqa: BLE001 - an internal API
        return None


def _silenced(sc, fn):
    try:
        jvm = sc._jvm
        ctx = jvm.org.apache.logging.log4j.LogManager.getContext(False)
        config = ctx.getConfiguration()
        off = jvm.org.apache.logging.log4j.Level.OFF
        saved = {}
        for name in NOISY_LOGGERS:
            own = config.getLoggers().get(name)  # this exact logger's config, or None (it inherits)
            saved[name] = own.getLevel() if own is not None else None
            jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, off)
    except Exception:  # noqa: BLE001 - another logging backend: run it as it is
        return fn(sc)
    try:
        return fn(sc)
    finally:
        for name, level in saved.items():
            if level is None:
                config.removeLogger(name)
            else:
                config.getLoggerConfig(name).setLevel(level)
        ctx.updateLoggers()


def _python_exec(spark, connect: bool) -> str:
    if connect:
        return "the Connect server's Python"
    return str(getattr(spark.sparkContext, "pythonExec", None) or "python3")


def _first_missing(infos: list[dict]) -> tuple[dict, str, str, str] | None:
    """(report, the missing top module, the module asked for, the error) of the first problem, the job's
    own package first (shipping it may be all that is needed)."""
    found = [(i, name, mod, err) for i in infos for mod, (name, err) in i["missing"].items()]
    found.sort(key=lambda f: not f[1].startswith(OWN))
    return found[0] if found else None


def _fix(connect: bool, python: str | None = None) -> str:
    """What to do: the executors run another interpreter -> point them at this one; the same interpreter
    (so the module is simply not there) -> ship it or install it."""
    if connect:
        return ("ship it with py_files=[...] (the Connect artifact API), or start the Connect server with "
                "PYSPARK_PYTHON set to a Python that has it")
    if python is not None and os.path.realpath(python) == os.path.realpath(sys.executable):
        return "ship it with py_files=[...] (addPyFile), or install it where the executors run"
    return (f"create the session with PYSPARK_PYTHON={sys.executable} (os.environ['PYSPARK_PYTHON'] before "
            "SparkSession.builder...getOrCreate(); spark-submit: --conf spark.pyspark.python=...), "
            "or install it in the executors' Python")


def missing_line(info: dict, name: str, module: str, error: str, connect: bool = False) -> str:
    what = f"{name!r}" + (f" (needed by {module})" if module != name and not module.startswith(name + ".") else "")
    return (f"executor {info['executor']} ({info['host']}) cannot import {what} for the trials: its Python "
            f"{info['python']} (Python {info['version']}) says {error}; {_fix(connect, info['python'])}")


def _version_mismatch(infos: list[dict], connect: bool = False) -> str | None:
    mine = "%d.%d" % sys.version_info[:2]
    for i in infos:
        if ".".join(i["version"].split(".")[:2]) != mine:
            return (f"executor {i['executor']} ({i['host']}) runs Python {i['version']} ({i['python']}), this "
                    f"driver Python {mine}: shipped code needs the same minor version; {_fix(connect)}")
    return None


_WHERE = re.compile(r"\(([^()\s]+) executor ([^()\s]+)\)")
_NO_MODULE = re.compile(r"No module named '([^']+)'")


def failed_line(e: BaseException, python: str, connect: bool = False, where: str | None = None) -> str:
    """A probe job that failed (the worker could not start or import pandas/pyarrow) -> one line."""
    text = str(e)
    m = _WHERE.search(text)
    where = f"executor {m.group(2)} ({m.group(1)})" if m else (where or "an executor")
    missing = _NO_MODULE.search(text)
    if missing is not None:
        why = f"cannot import {missing.group(1)!r}"
    elif "PYTHON_VERSION_MISMATCH" in text:
        why = "runs another Python minor version than this driver"
    elif "Cannot run program" in text:
        why = "cannot start it (no such program)"
    elif "exited unexpectedly" in text or "crashed" in text or "EOFException" in text:
        why = "exited as soon as it started"
    else:
        from hyperspark.job.protocol import one_line

        why = f"failed before any trial ({one_line(e)[:160]})"
    return f"{where}: its Python worker ({python}) {why}; {_fix(connect)}"
