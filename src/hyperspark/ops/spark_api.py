"""Read a Spark standalone master's ``/json/`` API into the target-agnostic dataclasses.

Every target (local processes, compose, k8s) ends up with a master UI URL; this
module is the one place that knows the JSON field names. Only the standard
library is used so that ``hyperspark --help`` stays fast.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Callable, Iterable, TypeVar

T = TypeVar("T")

from hyperspark.ops.model import AppInfo, ClusterStatus, Gpus, OpsError, WorkerInfo
from hyperspark.ops.util.poll import wait_for


def fetch_json(url: str, timeout: float = 3.0) -> Any:
    """GET ``url`` and decode JSON; raises OSError/ValueError on failure."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback/cluster URL)
        return json.loads(resp.read().decode("utf-8"))


def master_json(master_ui: str, timeout: float = 3.0) -> dict | None:
    """The master's ``/json/`` document, or None when the UI does not answer."""
    try:
        data = fetch_json(master_ui.rstrip("/") + "/json/", timeout=timeout)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def parse_gpus(w: dict) -> Gpus:
    """A worker's ``resources`` / ``resourcesused`` (``{"gpu": {"name": "gpu", "addresses": [...]}}``)."""
    def addresses(key: str) -> list[str]:
        info = w.get(key)
        gpu = info.get("gpu") if isinstance(info, dict) else None
        found = gpu.get("addresses") if isinstance(gpu, dict) else None
        return [str(a) for a in found] if isinstance(found, list) else []

    advertised = addresses("resources")
    return Gpus(count=len(advertised), addresses=advertised, used=addresses("resourcesused"))


def parse_worker(w: dict) -> WorkerInfo:
    return WorkerInfo(
        id=str(w.get("id", "?")),
        host=str(w.get("host", "?")),
        cores=int(w.get("cores", 0)),
        cores_used=int(w.get("coresused", 0)),
        memory_mb=int(w.get("memory", 0)),
        state=str(w.get("state", "UNKNOWN")),
        ui_url=w.get("webuiaddress"),
        gpus=parse_gpus(w),
    )


def parse_app(a: dict) -> AppInfo:
    duration = a.get("duration")
    return AppInfo(
        id=str(a.get("id", "?")),
        name=str(a.get("name", "?")),
        state=str(a.get("state", "UNKNOWN")),
        cores=int(a.get("cores", 0)),
        duration_ms=int(duration) if duration is not None else None,
    )


def parse_master(data: dict, target: str, master_url: str, master_ui: str) -> ClusterStatus:
    """Turn the master's ``/json/`` document into a :class:`ClusterStatus`."""
    return ClusterStatus(
        target=target,
        master_url=str(data.get("url") or master_url),
        master_ui=master_ui,
        master_state=str(data.get("status", "UNKNOWN")),
        workers=[parse_worker(w) for w in data.get("workers", [])],
        active_apps=[parse_app(a) for a in data.get("activeapps", [])],
        completed_apps=[parse_app(a) for a in data.get("completedapps", [])],
        urls={"master": master_ui},
    )


def worker_ui_port(worker: WorkerInfo) -> int | None:
    """Port of a worker's UI (``http://host:PORT``): how a target maps master ids to its processes."""
    if not worker.ui_url:
        return None
    try:
        return int(worker.ui_url.rstrip("/").rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def alive_count(data: dict | None) -> int:
    return sum(1 for w in (data or {}).get("workers", []) if w.get("state") == "ALIVE")


def free_workers(data: dict | None) -> int:
    """ALIVE workers with at least one free core: the executors a new application gets at once on a
    standalone cluster (one per worker, unless ``spark.executor.cores`` splits or ``spark.cores.max`` caps it)."""
    workers = [parse_worker(w) for w in (data or {}).get("workers", [])]
    return sum(1 for w in workers if w.state == "ALIVE" and w.cores > w.cores_used)


def busy_workers(data: dict | None) -> list[WorkerInfo]:
    """ALIVE workers with cores in use (running executors), per the master."""
    workers = [parse_worker(w) for w in (data or {}).get("workers", [])]
    return [w for w in workers if w.state == "ALIVE" and w.cores_used > 0]


def idle_first(candidates: Iterable[T], busy: Callable[[T], bool], number: Callable[[T], int]) -> list[T]:
    """Removal order for scale-down, the same on every target: idle workers first, then the
    highest-numbered within each group."""
    return sorted(candidates, key=lambda c: (busy(c), -number(c)))


def wait_alive_workers(
    master_ui: str, count: int, timeout: float, still_running: Callable[[], str | None] | None = None
) -> dict:
    """Block until the master lists exactly ``count`` ALIVE workers; returns its JSON.

    ``still_running`` may return a reason string when a process we wait for has
    died, so we fail at once with that reason instead of waiting for the timeout.
    """

    def check() -> dict | None:
        if still_running is not None:
            reason = still_running()
            if reason:
                raise OpsError(reason)
        data = master_json(master_ui)
        if data is None:
            return None
        return data if alive_count(data) == count else None

    return wait_for(check, timeout, f"{count} ALIVE worker(s) at {master_ui}")
