"""Per-trial resources (``resources: {cpus, gpus}``): Spark's stage-level task resource profile.

A trial is one Spark task. Without ``resources`` it takes ``spark.task.cpus`` cores (``threads_per_trial``)
and nothing else, exactly as before. With ``resources`` the trial tasks (the pull executor's long-lived
tasks, the per-trial executor's one-trial jobs, and their warm-ups) run under a task resource profile
(``ResourceProfileBuilder().require(TaskResourceRequests().cpus(c).resource("gpu", g))``,
``rdd.withResources``): they reuse the executors of the application's default profile, and Spark places a
task only where the profile's cores and GPUs are free, so no two trials hold the same GPU address (a
fractional ``gpus: 0.5`` lets two trials share one).

When the request equals what every task already gets (``cpus`` = the session's ``spark.task.cpus`` and no
GPUs) there is no profile: NOTHING changes against a run without ``resources`` (so ``resources: {cpus: N}``
also works on ``local[N]`` when the session was built for N-core tasks).

What a session needs for a profile (checked by :func:`check_session` before any trial, one line each):

* a cluster master (standalone, YARN, Kubernetes): Spark refuses task-only profiles on ``local[N]``;
* dynamic allocation OFF (``spark.dynamicAllocation.enabled=false``): with it on, Spark would ask for new
  executors per profile instead of reusing the running ones. The warm driver runs with dynamic allocation,
  so a spec with ``resources`` needs a fresh driver (``hyperspark submit --cold``);
* for GPUs: executors that hold GPUs, i.e. workers that advertise them
  (``spark.worker.resource.gpu.amount`` + ``spark.worker.resource.gpu.discoveryScript``) and an application
  whose default profile asks for them (``spark.executor.resource.gpu.amount``); at least one executor with
  ``cpus`` cores and ``gpus`` GPUs.

Slots come from the profile (:func:`slots_for`): per executor ``min(cores // cpus, its GPU share)``,
summed; 2 executors x 2 GPUs with ``gpus: 1`` are 4 slots, whatever their cores.

Spark-free parts (:class:`TrialResources`, :func:`slots_for`, :func:`count_slots`, :func:`shortfall`) are
plain functions of plain data; only :func:`spark_profile` and :func:`executor_resources` touch Spark.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from hyperspark.errors import JobInputError

GPU = "gpu"  # Spark's resource name for GPUs (spark.worker/executor/task.resource.gpu.*)
#: Spark 4 keeps fractional task amounts as exact fractions of 1e16; floor(1/amount) tasks share an address
_SCALE = 10_000_000_000_000_000


@dataclass(frozen=True)
class TrialResources:
    """What one trial asks for: ``cpus`` cores (also its model threads) and ``gpus`` GPUs."""

    cpus: int
    gpus: float = 0.0

    def as_dict(self) -> dict:
        return {"cpus": self.cpus, "gpus": self.gpus}

    def describe(self) -> str:
        return f"cpus={self.cpus}" + (f", gpus={self.gpus:g}" if self.gpus else "")


@dataclass
class ExecutorResources:
    """One executor as the scheduler sees it: its cores and its GPU addresses."""

    id: str
    cores: int
    gpus: list[str] = field(default_factory=list)


@dataclass
class TrialProfile:
    """A request that needs a task resource profile, with the profile itself (a pyspark ResourceProfile)."""

    request: TrialResources
    spark: Any = None  # pyspark.resource.ResourceProfile (None in Spark-free tests)


# --------------------------------------------------------------------------- the request (pure)
def request_of(spec) -> TrialResources | None:
    """The spec's ``resources`` resolved: cpus default to ``threads_per_trial`` (which every entry point
    makes equal to the session's ``spark.task.cpus``); None without ``resources``."""
    res = getattr(spec, "resources", None)
    if res is None:
        return None
    return TrialResources(res.cpus if res.cpus is not None else spec.threads_per_trial, float(res.gpus))


def needs_profile(request: TrialResources | None, task_cpus: int) -> bool:
    """True when the request differs from what a default task gets (``task_cpus`` cores, no GPUs)."""
    return request is not None and (request.gpus > 0 or request.cpus != task_cpus)


def gpu_share(addresses: int, gpus: float) -> float:
    """How many trials of ``gpus`` GPUs fit on ``addresses`` GPUs (Spark's rule: a fraction <= 1 shares
    one address floor(1/gpus) ways; whole amounts take that many addresses)."""
    if gpus <= 0:
        return math.inf  # no GPU constraint
    if gpus <= 1:
        per = _SCALE // round(gpus * _SCALE)
        return addresses * per
    return addresses // int(gpus)


def slots_for(cores: int, gpu_addresses: int, request: TrialResources) -> int:
    """Concurrent trials one executor runs under the request: min(cores // cpus, its GPU share)."""
    by_cores = cores // max(1, request.cpus)
    return int(min(by_cores, gpu_share(gpu_addresses, request.gpus)))


def count_slots(executors: Iterable[ExecutorResources], request: TrialResources) -> int:
    return sum(slots_for(e.cores, len(e.gpus), request) for e in executors)


def shortfall(executors: list[ExecutorResources], request: TrialResources) -> str | None:
    """Why no executor can run one trial of the request (one line naming the key), or None."""
    if not executors:
        return f"resources ({request.describe()}): no executor registered"
    if count_slots(executors, request) > 0:
        return None
    most_cores = max(e.cores for e in executors)
    if request.cpus > most_cores:
        return (f"resources.cpus={request.cpus}: no executor has {request.cpus} cores (the most one has is "
                f"{most_cores}); lower it or give workers more cores")
    most_gpus = max(len(e.gpus) for e in executors)
    if most_gpus == 0:
        return (f"resources.gpus={request.gpus:g}: no executor has a GPU (workers advertise none, or the "
                "application did not ask for them with spark.executor.resource.gpu.amount); start workers "
                "with hyperspark up --gpus-per-worker N")
    fits = [e for e in executors if e.cores >= request.cpus]
    if not any(gpu_share(len(e.gpus), request.gpus) for e in fits):
        if request.gpus > most_gpus:
            return (f"resources.gpus={request.gpus:g}: no executor has {request.gpus:g} GPUs (the most one "
                    f"has is {most_gpus})")
        return (f"resources ({request.describe()}): no executor has both {request.cpus} cores and "
                f"{request.gpus:g} GPU(s)")
    return f"resources ({request.describe()}): no executor can run one trial"


# --------------------------------------------------------------------------- Spark
def unsupported(master: str, dynamic_allocation: bool, request: TrialResources) -> str | None:
    """The session cannot run a task resource profile: one line, else None (pure, for tests)."""
    if master == "local" or master.startswith("local["):
        return (f"resources ({request.describe()}): Spark runs no task resource profiles on a {master} master; "
                "use a cluster (standalone, YARN, Kubernetes), or leave resources out and set "
                "threads_per_trial (spark.task.cpus)")
    if dynamic_allocation:
        return (f"resources ({request.describe()}): this session runs with dynamic allocation "
                "(spark.dynamicAllocation.enabled=true, as the warm driver does), where Spark's task resource "
                "profiles do not reuse the running executors; use a fresh driver (hyperspark submit --cold)")
    return None


def spark_profile(request: TrialResources):
    """The pyspark ResourceProfile of the request (needs an active SparkContext)."""
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    treqs = TaskResourceRequests().cpus(request.cpus)
    if request.gpus > 0:
        treqs = treqs.resource(GPU, request.gpus)
    return ResourceProfileBuilder().require(treqs).build


def with_profile(rdd, profile: TrialProfile | None):
    """``rdd`` under the trial profile (unchanged without one)."""
    return rdd.withResources(profile.spark) if profile is not None and profile.spark is not None else rdd


def executor_resources(sc, at_least: int = 0, wait_s: float = 5.0) -> list[ExecutorResources] | None:
    """Active executors (not the driver) with their cores and GPU addresses, from Spark's status store
    (an internal API: None when it cannot be read). The store follows registrations through the listener
    bus, a moment behind: wait up to ``wait_s`` for ``at_least`` executors."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            execs = sc._jsc.sc().statusStore().executorList(True)
            found = [e for e in (executor_of(execs.apply(i)) for i in range(execs.size())) if e.id != "driver"]
        except Exception:  # noqa: BLE001 - an internal API
            return None
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def executor_of(summary) -> ExecutorResources:
    """A status store ``ExecutorSummary`` (py4j) -> ExecutorResources."""
    addresses: list[str] = []
    try:
        info = summary.resources().get(GPU)
        if info.isDefined():
            addresses = [str(a) for a in info.get().addresses()]
    except Exception:  # noqa: BLE001 - no resources map: no GPUs
        pass
    return ExecutorResources(str(summary.id()), int(summary.totalCores()), addresses)


def task_cpus(sc) -> int:
    """Cores every task of this session takes (``spark.task.cpus``): the one place that reads it."""
    return int(sc.getConf().get("spark.task.cpus", "1"))


def check_master(sc, request: TrialResources | None) -> None:
    """The master / dynamic allocation part of :func:`trial_profile`, before any executor is waited for."""
    if needs_profile(request, task_cpus(sc)):
        problem = unsupported(sc.master, dynamic_allocation(sc), request)
        if problem is not None:
            raise JobInputError(problem)


def dynamic_allocation(sc) -> bool:
    """Does this session run with dynamic allocation (the warm driver does)? The one place that reads it."""
    return sc.getConf().get("spark.dynamicAllocation.enabled", "false").lower() == "true"


def trial_profile(sc, request: TrialResources | None, executors: int = 1) -> TrialProfile | None:
    """The profile for ``request`` on this session (None: no profile needed); raises JobInputError (one
    line) when the session cannot run it. Call once ``executors`` registered, before any trial."""
    if not needs_profile(request, task_cpus(sc)):
        return None
    problem = unsupported(sc.master, dynamic_allocation(sc), request)
    if problem is None:
        execs = executor_resources(sc, at_least=max(1, executors))
        problem = shortfall(execs, request) if execs is not None else None
    if problem is not None:
        raise JobInputError(problem)
    return TrialProfile(request, spark_profile(request))


def profile_slots(sc, profile: TrialProfile, cores: int) -> tuple[int, int | None]:
    """(slots, GPU addresses held by executors) under the profile; when the status store cannot be read,
    cores // cpus and None."""
    execs = executor_resources(sc, wait_s=0)
    if execs is None:
        return cores // profile.request.cpus, None
    return count_slots(execs, profile.request), sum(len(e.gpus) for e in execs)
