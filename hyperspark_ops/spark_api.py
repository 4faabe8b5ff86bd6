"""Read a Spark standalone master's ``/json/`` API into the target-agnostic dataclasses.

Every target (local processes, compose, k8s) ends up with a master UI URL; this
module is the one place that knows the JSON field names. Only the standard
library is used so that ``hyperspark --help`` stays fast.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from hyperspark_ops.targets.base import AppInfo, ClusterStatus, OpsError, WorkerInfo


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


def parse_worker(w: dict) -> WorkerInfo:
    return WorkerInfo(
        id=str(w.get("id", "?")),
        host=str(w.get("host", "?")),
        cores=int(w.get("cores", 0)),
        cores_used=int(w.get("coresused", 0)),
        memory_mb=int(w.get("memory", 0)),
        state=str(w.get("state", "UNKNOWN")),
        ui_url=w.get("webuiaddress"),
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


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5
) -> Any:
    """Poll ``predicate`` until it returns something truthy; OpsError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise OpsError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


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
        alive = sum(1 for w in data.get("workers", []) if w.get("state") == "ALIVE")
        return data if alive == count else None

    return wait_for(check, timeout, f"{count} ALIVE worker(s) at {master_ui}")
