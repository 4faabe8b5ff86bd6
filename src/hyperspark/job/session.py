"""The job's SparkSession and its slots: start it, wait for executors, count cores, versions.

One trial runs per slot of ``threads_per_trial`` cores; the warm driver (``warm_server.py``) starts its
session once, with no spec yet, and serves every run with it.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hyperspark.errors import JobInputError
from hyperspark.job import resources as R
from hyperspark.job.protocol import EXECUTORS_HINT, EXPECTED_EXECUTORS, LAUNCHED_AT_ENV

if TYPE_CHECKING:
    from hyperspark.job.spec import Spec


# --------------------------------------------------------------------------- session and slots
#: ``spark.hyperspark.executorJit``: ``c1`` (the default for a session whose trials run in Python) starts
#: executor JVMs with the client compiler only; ``full`` keeps the JVM's default tiered JIT
EXECUTOR_JIT_CONF = "spark.hyperspark.executorJit"
C1_ONLY = "-XX:TieredStopAtLevel=1"


def build_session(spec: Spec, master: str | None = None, app_name: str | None = None):
    """A session made for the spec: its tasks take ``spec.trial_cpus`` cores (``resources.cpus`` or
    ``threads_per_trial``), so a CPU-only ``resources`` needs no task resource profile here. Its executors
    start with C1 only when the trials run in Python (:func:`executor_java_options`)."""
    return start_session(app_name or f"hyperspark-{spec.name}", spec.trial_cpus, master,
                         python_trials=spec.strategy != "mllib", preload=preload_modules(spec))


def preload_modules(spec: Spec) -> list[str]:
    """The modules this spec's trials import (every family a model choice may pick): ``job/daemon.py``."""
    from hyperspark.job import families
    from hyperspark.job.daemon import modules_for
    from hyperspark.job.models import get_model

    if spec.is_objective:
        return modules_for(spec.strategy, [])
    keys = (families.families(spec.search_space) if spec.model_choice else None) or [spec.model]
    defs = [get_model(k) for k in keys]
    return modules_for(spec.strategy, [(d.library, d.class_path(t)) for d in defs for t in d.tasks()])


def executor_java_options(current: str, jit: str | None, python_trials: bool) -> str | None:
    """The executors' JVM options for a session the job starts itself, or None to leave them as they are.

    When every trial runs in Python (a scikit-learn-style estimator or an objective), an executor's JVM
    only starts Python workers and moves bytes: C2's compilations during its first seconds are CPU the
    whole start waits for. Measured on the 2-core machine, cold submits of the sleep spec, 3 interleaved
    pairs: session + load + prestart + warm-up 11.9 s -> 9.6 s with ``-XX:TieredStopAtLevel=1`` on the
    executors. MLlib trials compute in the executors' JVM and keep the full JIT, and so does any session
    asked to (``spark.hyperspark.executorJit=full``, e.g. a huge CSV parsed by the executors) or whose
    options already choose a compiler level."""
    if not python_trials or (jit or "c1").lower() == "full" or "TieredStopAtLevel" in current:
        return None
    return f"{current} {C1_ONLY}".strip()


def start_session(app_name: str, threads_per_trial: int = 1, master: str | None = None,
                  python_trials: bool = False, preload: list[str] | None = None):
    """The job's SparkSession: one trial per slot of ``threads_per_trial`` cores. The warm driver
    (``warm_server.py``) starts it once, with no spec yet, and serves every run with it (``python_trials``
    False: it may run MLlib trials; no ``preload``: its Python workers import every family's modules).
    ``preload``: the modules the executors' Python daemon imports before forking (``job/daemon.py``)."""
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    python = workers_python()
    b = SparkSession.builder.appName(app_name)
    if python is not None:  # the user's own choice (env or conf) wins; else this very interpreter
        b = b.config("spark.pyspark.python", python)
    if master:
        b = b.master(master)
    elif not _submitted_with_master():
        b = b.master("local[*]")
    t = str(threads_per_trial)
    conf = {
        # one trial per slot; the model's own threads = the slot's cores (no nested oversubscription)
        "spark.task.cpus": t,
        "spark.executorEnv.OMP_NUM_THREADS": t,
        "spark.executorEnv.OPENBLAS_NUM_THREADS": t,
        "spark.executorEnv.MKL_NUM_THREADS": t,
        "spark.ui.showConsoleProgress": "false",
        "spark.python.worker.reuse": "true",  # keeps imports and the unpickled broadcast across trials
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.pandas.inferPandasDictAsMap": "false",
    }
    SparkContext._ensure_initialized()  # the JVM gateway (spark-submit's, or a new one): getOrCreate needs it too
    defaults = SparkConf()  # the JVM's: what spark-submit (or spark-defaults.conf) already set
    opts = executor_java_options(defaults.get("spark.executor.extraJavaOptions", ""),
                                 defaults.get(EXECUTOR_JIT_CONF, None), python_trials)
    if opts is not None:
        conf["spark.executor.extraJavaOptions"] = opts
    if preload:
        from hyperspark.job.daemon import ENV

        conf[f"spark.executorEnv.{ENV}"] = ",".join(preload)
    for k, v in conf.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("HYPERSPARK_SPARK_LOG_LEVEL", "WARN"))
    return spark


def workers_python() -> str | None:
    """The interpreter a session this process builds gives its Python workers: ``sys.executable``, set as
    ``PYSPARK_PYTHON`` (what a plain Python driver sends executors; pyspark reads only the environment)
    and returned for ``spark.pyspark.python``. None when the user chose one (``PYSPARK_PYTHON``, or
    spark-submit's ``--conf spark.pyspark.python``, which spark-submit turns into ``PYSPARK_PYTHON``):
    left alone. Without this, executors run ``python3`` from PATH, which is not the venv of a script run
    by its absolute path (cron, IDEs, systemd, a Jupyter kernelspec)."""
    if os.environ.get("PYSPARK_PYTHON") or not sys.executable:
        return None
    os.environ["PYSPARK_PYTHON"] = sys.executable
    return sys.executable


def _submitted_with_master() -> bool:
    # spark-submit starts the JVM first and hands it to Python through PYSPARK_GATEWAY_PORT (its --master
    # is then already set); plain `python tune.py` has no gateway yet and gets local[*].
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def wait_for_executors(spark, timeout_s: float = 90.0, expected: int | None = None) -> int:
    """Executors register after getOrCreate returns: wait before timing or dispatching.

    Waits for ``expected`` executors (default: ``spark.hyperspark.expectedExecutors`` when the launcher
    sets it), else for the count to be >= 1 and stable (:func:`settled`). Returns the number of executors
    (0 for local[N]).
    """
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return 0
    if expected is None:
        expected = int(sc.getConf().get(EXPECTED_EXECUTORS, "0"))
    hint = int(sc.getConf().get(EXECUTORS_HINT, "0"))
    dynamic = R.dynamic_allocation(sc)
    if dynamic:
        # The warm driver runs with dynamic allocation: executors idle for executorIdleTimeout go back
        # to the cluster, and Spark asks for new ones only once tasks are pending. Here no task is
        # pending yet, but the slot count (and the warm-up's one task per slot) is decided now: waiting
        # alone would see 0 executors until the timeout. So ask the cluster manager for them first; once
        # the search's tasks flow, the allocation manager owns the count again (and gives idle ones back).
        request_executors(sc, max(expected, 1))
    deadline = time.monotonic() + timeout_s
    last, stable_since = -1, time.monotonic()
    # under dynamic allocation executors come and go at any age: only a stable count settles it
    born = None if dynamic else sc.startTime / 1000.0
    while time.monotonic() < deadline:
        n = registered_executors(sc)
        if n != last:
            last, stable_since = n, time.monotonic()
        if settled(n, expected, time.monotonic() - stable_since, time.time() - born if born else 0.0, hint):
            return n
        time.sleep(0.2)
    if last < 1:
        raise RuntimeError(f"no executor registered within {timeout_s:.0f} s: does the cluster have free cores?")
    return last


#: a session younger than this may still be registering executors: the count must hold for SETTLE_S
YOUNG_SESSION_S = 15.0
SETTLE_S = 2.0


def settled(n: int, expected: int | None, stable_for_s: float, session_age_s: float, hint: int = 0) -> bool:
    """Whether ``n`` registered executors is the count to run with. ``expected`` (the launcher requires
    it): reached. Else at least one, and either the launcher's ``hint`` reached (the local target's cold
    submit: its workers with free cores), stable for SETTLE_S, or the session older than YOUNG_SESSION_S:
    executors register in the first seconds of a session, so in a notebook's or the peers benchmark's
    long-lived session (every ``tune()`` call) the count is final, and waiting 2 s per call was pure cost.
    A cold submit without a hint waited those 2 s twice (the main thread and the prestart)."""
    if expected:
        return n >= expected
    return n >= 1 and ((hint and n >= hint) or stable_for_s >= SETTLE_S or session_age_s >= YOUNG_SESSION_S)


def registered_executors(sc) -> int:
    return sc._jsc.sc().getExecutorMemoryStatus().size() - 1  # minus the driver's block manager


def request_executors(sc, total: int) -> None:
    """Ask the cluster manager for ``total`` executors now (developer API; standalone honours it).

    The request sets the TOTAL: ``requestExecutors(missing)`` adds to the current target, which the warm
    driver resets to 0 after every run (``warm_server.release_executors``) while the executors it had stay
    registered. After a scale-up (1 registered, 2 wanted) "1 more" then made a target of 1, met by the
    executor already there: the second never came and the run waited out its timeout."""
    if total > registered_executors(sc):
        request_total_executors(sc, total)


def request_total_executors(sc, total: int) -> None:
    """Set the executor target to ``total`` (developer API ``requestTotalExecutors``, no locality hints)."""
    empty = getattr(getattr(sc._jvm.scala.collection.immutable, "Map$"), "MODULE$").empty()
    sc._jsc.sc().requestTotalExecutors(total, 0, empty)


def total_cores(spark) -> int:
    """Cores of the registered executors, from Spark's status store (defaultParallelism is max(cores, 2),
    which would count a 1-core cluster as 2 slots)."""
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return int(sc.defaultParallelism)
    try:
        execs = sc._jsc.sc().statusStore().executorList(True)
        cores = sum(int(execs.apply(i).totalCores()) for i in range(execs.size()) if execs.apply(i).id() != "driver")
        if cores > 0:
            return cores
    except Exception:  # noqa: BLE001 - an internal API: fall back to the public one
        pass
    return int(sc.defaultParallelism)



# --------------------------------------------------------------------------- Spark Connect
#: the oldest Spark Connect server trials can run on (mapInPandas + artifacts + tags over Connect)
MIN_CONNECT_SPARK = (3, 5)


def is_connect(spark) -> bool:
    """A Spark Connect session (a client: no SparkContext, no RDDs, no broadcast)."""
    if spark is None:
        return False
    # never import pyspark.sql.connect here: without grpc, pyspark's import check calls sys.exit(0) in a
    # `python -c` process (it takes it for a doctest run). A Connect session means the module is loaded.
    module = sys.modules.get("pyspark.sql.connect.session")
    return module is not None and isinstance(spark, module.SparkSession)


def connect_version_problem(version: str) -> str | None:
    """Why a Connect server of ``version`` cannot run trials (one line), or None."""
    try:
        major_minor = tuple(int(x) for x in version.split(".")[:2])
    except ValueError:
        return f"Spark Connect server reports version {version!r}, which this client cannot read"
    if major_minor < MIN_CONNECT_SPARK:
        need = ".".join(map(str, MIN_CONNECT_SPARK))
        return f"Spark Connect server runs Spark {version}; hyperspark needs Spark {need} or newer on Connect"
    return None


def connect_session(url: str):
    """A Spark Connect session for ``sc://host:port`` (``hyperspark.tune(spark="sc://...")``), checked."""
    import importlib.util

    missing = [m for m in ("grpc", "grpc_status", "zstandard") if importlib.util.find_spec(m) is None]
    if missing:  # checked first: pyspark's own check may sys.exit(0) the process (see is_connect)
        raise JobInputError(f"spark={url}: the Spark Connect client needs {missing[0]}: "
                            "pip install 'hyperspark[connect]'")
    try:
        # Connect's own builder: pyspark's refuses a remote session in a process that has a classic one
        from pyspark.sql.connect.session import SparkSession

        spark = SparkSession.builder.remote(url).create()  # a new one: getOrCreate returns any default one
    except ImportError as e:
        raise JobInputError(f"spark={url}: the Spark Connect client needs {getattr(e, 'name', None) or e!s}: "
                            "pip install 'hyperspark[connect]'") from None
    except Exception as e:  # noqa: BLE001 - a malformed URL
        raise JobInputError(f"spark={url}: not a Spark Connect URL ({_line(e)}); write sc://HOST:PORT") from None
    check_connect(spark, url)
    return spark


def check_connect(spark, url: str | None = None) -> str:
    """Ask the server its version, with a short retry (the client's default retries for minutes): one
    line when it does not answer or runs a Spark this job cannot use. Returns the version."""
    import warnings

    from pyspark.sql.connect.client.retries import DefaultPolicy

    client = spark._client
    policies = client.get_retry_policies()
    client.set_retry_policies([DefaultPolicy(max_retries=3, initial_backoff=200, max_backoff=1000)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version = spark.version
    except Exception as e:  # noqa: BLE001 - unreachable, refused, TLS ...
        where = url or connect_url(spark)
        raise JobInputError(f"Spark Connect server {where} does not answer ({_grpc_reason(e)}); start one "
                            "(hyperspark up --connect, or start-connect-server.sh) or check the URL") from None
    finally:
        client.set_retry_policies(policies)
    problem = connect_version_problem(version)
    if problem is not None:
        raise JobInputError(problem)
    return version


def connect_url(spark) -> str:
    """``sc://host:port`` of a Connect session (for messages and the summary)."""
    try:
        return f"sc://{spark._client._builder.endpoint}"
    except Exception:  # noqa: BLE001 - another channel builder
        return "sc://?"


def _grpc_reason(e: BaseException) -> str:
    text = str(e)
    for key in ("details = \"", "details=\""):
        if key in text:
            return text.split(key, 1)[1].split("\"", 1)[0][:160]
    return _line(e)


def _line(e: BaseException) -> str:
    from hyperspark.job.protocol import one_line

    return one_line(e)[:200]


def master_of(spark) -> str:
    """The master URL (a Connect client reads the server's ``spark.master``)."""
    if is_connect(spark):
        return str(spark.conf.get("spark.master", "connect"))
    return spark.sparkContext.master


def app_id_of(spark) -> str | None:
    if is_connect(spark):
        try:
            return spark.conf.get("spark.app.id", None)
        except Exception:  # noqa: BLE001 - an older server
            return None
    return spark.sparkContext.applicationId


def task_cpus_of(spark) -> int:
    """``spark.task.cpus`` of a classic or a Connect session."""
    if is_connect(spark):
        return int(spark.conf.get("spark.task.cpus", "1") or 1)
    return R.task_cpus(spark.sparkContext)


def connect_cores(spark) -> int:
    """Cores of a Connect session's executors: ``local[N]`` from the master, else the server's default
    parallelism (a range without a partition count gets one partition per executor core)."""
    master = master_of(spark)
    if master.startswith("local"):
        inside = master[len("local["):-1] if master.startswith("local[") else "1"
        if inside == "*":
            return os.cpu_count() or 1
        return int(inside.split(",")[0])
    from pyspark.sql.connect import functions as F  # Connect's own: the process may not be "remote"

    return int(spark.range(0, 1 << 16).select(F.spark_partition_id().alias("p")).agg(F.max("p")).first()[0]) + 1


def versions(spark=None) -> dict:
    out = {"python": platform.python_version()}
    for mod in ("pyspark", "numpy", "pandas", "pyarrow", "sklearn", "xgboost", "lightgbm", "optuna"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - not installed
            pass
    if spark is not None:
        out["spark"] = spark.version
        if is_connect(spark):
            out["spark_connect"] = "true"
        else:
            out["java"] = spark.sparkContext._jvm.System.getProperty("java.version")
    from hyperspark.job import __version__

    out["hyperspark"] = __version__
    return out


def process_timings(main_at: float) -> dict[str, float]:
    """Where a cold driver's first seconds went before ``main`` (the cold-start breakdown,
    ``ops/breakdown.py``): ``jvm_start`` (the kit's spark-submit start, or else the driver JVM's, -> the
    Python it starts: spark-submit's bash scripts, Spark's launcher JVM, the driver JVM) and ``python_start``
    (that Python -> ``main``: the interpreter and the job's imports). Epoch differences on one machine; a
    phase that cannot be known here (no psutil, no JVM parent) is left out, never guessed."""
    out: dict[str, float] = {}
    try:
        import psutil

        me = psutil.Process()
        py_at = me.create_time()
        out["python_start"] = round(main_at - py_at, 3)
        launched = os.environ.get(LAUNCHED_AT_ENV)
        parent = me.parent()
        if launched:  # spark-submit's bash execs the JVM: one process from the kit's launch to Python
            out["jvm_start"] = round(py_at - float(launched), 3)
        elif parent is not None and "java" in parent.name().lower():
            out["jvm_start"] = round(py_at - parent.create_time(), 3)
    except Exception:  # noqa: BLE001 - best effort: the breakdown says what it could not measure
        pass
    return out


def driver_cpu_seconds(spark) -> float:
    """CPU seconds used so far by this Python driver and, on Spark, by the driver JVM it talks to."""
    cpu = time.process_time()
    if spark is None or is_connect(spark):  # a Connect client's driver JVM is the server's, elsewhere
        return cpu
    try:
        import psutil

        me = psutil.Process()
        jvm = [p for p in [me.parent(), *me.children()] if p and "java" in p.name().lower()]
        if jvm:
            t = jvm[0].cpu_times()
            cpu += t.user + t.system
    except Exception:  # noqa: BLE001 - psutil missing or the JVM elsewhere: Python's own CPU only
        pass
    return cpu


@dataclass
class Cluster:
    """What the run has to work with: executors, their cores, trial slots, and concurrent trials; with
    ``resources``, the request and (when it differs from a default task) its task resource profile."""

    executors: int
    cores: int
    slots: int
    parallelism: int
    request: R.TrialResources | None = None
    profile: R.TrialProfile | None = None
    gpus: int | None = None  # GPU addresses the executors hold (counted under a GPU profile)


def cluster_of(spark, threads_per_trial: int, parallelism: int | str = "auto", n_jobs: int = 1,
               expected: int | None = None, request: R.TrialResources | None = None) -> Cluster:
    """Wait for the executors, count cores and slots (``n_jobs`` local processes without Spark). With a
    ``request`` (``resources``) the slots come from its task resource profile, and a session that cannot
    run it is one JobInputError line, before any trial."""
    if is_connect(spark):
        return _connect_cluster(spark, threads_per_trial, parallelism, request)
    n_exec = wait_for_executors(spark, expected=expected) if spark is not None else 0
    cores = total_cores(spark) if spark is not None else n_jobs * threads_per_trial
    profile, gpus = None, None
    if spark is None and request is not None and request.gpus > 0:
        raise JobInputError(f"resources.gpus={request.gpus:g}: GPUs are handed out by Spark; "
                            "this run has no Spark session (joblib processes)")
    if spark is not None:
        profile = R.trial_profile(spark.sparkContext, request, n_exec)
    if profile is not None:
        slots, gpus = R.profile_slots(spark.sparkContext, profile, cores)
    else:
        slots = cores // threads_per_trial
    if slots < 1:
        raise JobInputError(f"threads_per_trial={threads_per_trial} is more than the {cores} core(s) "
                            "an executor has: lower it or give workers more cores")
    return Cluster(n_exec, cores, slots, slots if parallelism == "auto" else int(parallelism), request, profile, gpus)


def _connect_cluster(spark, threads_per_trial: int, parallelism, request) -> Cluster:
    """A Connect session's slots: its executors' cores (the server's view) over the trial's cores; task
    resource profiles are classic-only here, so a request that needs one is one line."""
    if R.needs_profile(request, task_cpus_of(spark)):
        raise JobInputError(f"resources ({request.describe()}): per-trial resource profiles need a classic "
                            "SparkSession; on Spark Connect leave resources out (trials take spark.task.cpus)")
    cores = connect_cores(spark)
    slots = max(1, cores // threads_per_trial)
    return Cluster(0, cores, slots, slots if parallelism == "auto" else int(parallelism), request)
