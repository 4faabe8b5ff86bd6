"""The local target's readiness checks, one verdict each (names: :class:`~hyperspark.ops.model.CheckName`).
Each check is a function of what it looks at, so ``LocalTarget.doctor`` only gathers the facts."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hyperspark.ops import spark_api
from hyperspark.ops.hdfs import jmx as nn_jmx
from hyperspark.ops.model import Check, CheckName, OpsError, StorageStatus
from hyperspark.ops.targets.local.settings import HOST
from hyperspark.ops.util.java import check_java
from hyperspark.ops.util.net import port_free


def java_check() -> Check:
    try:
        return Check(CheckName.JAVA, True, check_java())
    except OpsError as exc:
        return Check(CheckName.JAVA, False, str(exc))


def python_check(workers_python: str) -> Check:
    """The driver's Python (this one) and the workers' must be the same minor version."""
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        out = subprocess.run(
            [workers_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30,
        )
        theirs = out.stdout.strip()
    except OSError as exc:
        return Check(CheckName.PYTHON, False, f"workers' Python {workers_python} does not run: {exc}")
    ok = theirs == mine
    return Check(CheckName.PYTHON, ok, f"driver {mine} ({sys.executable}), workers {theirs or '?'} ({workers_python})")


def ports_check(ports: dict[int, str], running: bool) -> Check:
    """The master's ports: ours while a cluster runs, else free."""
    bad = []
    for port, label in ports.items():
        if not port_free(port, HOST) and not running:
            bad.append(f"{port} ({label}) in use by another process")
    if bad:
        return Check(CheckName.PORTS, False, "; ".join(bad))
    word = "ours" if running else "free"
    return Check(CheckName.PORTS, True, ", ".join(f"{p} ({l}) {word}" for p, l in ports.items()))


def workers_check(expected: int, master_ui: str) -> Check:
    """As many ALIVE workers at the master as we started (at least one)."""
    data = spark_api.master_json(master_ui)
    if data is None:
        return Check(CheckName.WORKERS, False, f"master UI {master_ui} does not answer")
    alive = spark_api.alive_count(data)
    ok = alive == expected and expected > 0
    return Check(CheckName.WORKERS, ok, f"{alive} ALIVE registered, {expected} started by us")


def no_cluster_check() -> Check:
    return Check(CheckName.WORKERS, False, "no cluster is running: run `hyperspark up` first")


def storage_checks(status: StorageStatus, storage_dir: Path) -> list[Check]:
    """A storage directory that really takes a file, or HDFS writable with its own checks."""
    if status.kind == "dir":
        ok = _dir_writable(storage_dir)
        return [Check(CheckName.STORAGE, ok, f"{storage_dir} {'writable' if ok else 'not writable'}")]
    return [Check(CheckName.STORAGE, bool(status.writable), f"HDFS {status.uri} {status.detail}".strip()),
            *nn_jmx.hdfs_checks(status)]


def _dir_writable(d: Path) -> bool:
    """Really write a file: os.access lies on read-only mounts."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / f".doctor-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
        return True
    except OSError:
        return False
