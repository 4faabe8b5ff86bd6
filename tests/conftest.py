"""Shared fixtures. The expensive one, ``local_cluster``, is session-scoped and lazy:
a REAL Spark standalone master + 2 workers, started only when a test asks for
it and always stopped (by recorded pid) at the end of the session.

Ports: free ones are picked at run time. Set ``HYPERSPARK_TEST_PORT_RANGE=LO-HI``
to keep them inside a range (shared machines hand each developer a range).
"""
from __future__ import annotations

import os
import random
import shutil
import socket
from pathlib import Path
from typing import Iterator

import pytest


# The real-HDFS fixtures (hadoop_home, hdfs_cluster) live with the HDFS tests; importing
# them here makes them visible to every test. Both are lazy: nothing starts until asked.
from tests.integration.hdfs_fixtures import hadoop_home, hdfs_cluster  # noqa: E402,F401


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_range() -> tuple[int, int]:
    raw = os.environ.get("HYPERSPARK_TEST_PORT_RANGE", "20000-29999")
    lo, _, hi = raw.partition("-")
    return int(lo), int(hi)


def free_port_block(size: int, taken: set[int] | None = None) -> int:
    """First port of ``size`` consecutive free ports inside the test port range."""
    lo, hi = _port_range()
    taken = taken or set()
    starts = list(range(lo, hi - size + 2))
    random.shuffle(starts)
    for start in starts[:2000]:
        block = range(start, start + size)
        if not taken.intersection(block) and all(_port_free(p) for p in block):
            return start
    raise RuntimeError(f"no {size} consecutive free ports in {lo}-{hi}")


def cluster_ports() -> dict[str, int]:
    """Master RPC, master UI, 8 worker UIs and the driver UI: one free block, no overlaps."""
    base = free_port_block(12)
    return {"master_port": base, "ui_port": base + 1, "driver_ui_port": base + 2, "worker_ui_port": base + 4}


def spark_missing() -> str | None:
    """Why a real local cluster cannot run here, or None."""
    import importlib.util

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "java is not installed (Spark needs Java 17+)"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed"
    return None


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    state_dir = tmp_path_factory.mktemp("hs-local")
    from hyperspark_ops.targets.local import LocalTarget

    target = LocalTarget(state_dir)
    try:
        target.configure(hdfs=False, **cluster_ports())
        target.up(2)
        yield target
    finally:
        target.down()


@pytest.fixture
def fresh_local_target(tmp_path: Path) -> Iterator:
    """A LocalTarget on free ports in a fresh state dir, NOT started; always downed afterwards."""
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    from hyperspark_ops.targets.local import LocalTarget

    target = LocalTarget(tmp_path / "state")
    target.configure(hdfs=False, **cluster_ports())
    try:
        yield target
    finally:
        target.down()
