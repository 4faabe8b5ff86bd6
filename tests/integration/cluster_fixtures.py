"""A REAL Spark standalone master + workers from the local target.

``local_cluster`` is session-scoped and lazy: started only when a test asks for it, always stopped
(by recorded pid) at the end of the session. Ports: :mod:`tests.ports`.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.ports import free_port_block


def cluster_ports() -> dict[str, int]:
    """Master RPC, master UI, driver UI, history server UI and 8 worker UIs: one free block, no overlaps."""
    base = free_port_block(12)
    return {"master_port": base, "ui_port": base + 1, "driver_ui_port": base + 2, "history_ui_port": base + 3,
            "worker_ui_port": base + 4}


def spark_missing() -> str | None:
    """Why a real local cluster cannot run here, or None."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "java is not installed (Spark needs Java 17+)"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed"
    return None


#: the client conf dirs of the clusters running now, oldest first: fixtures of different scopes end in any
#: order (a package's GPU cluster can end while the session's cluster, started after it, still runs)
_ATTACHED: list[str] = []


@contextlib.contextmanager
def attached(target: Any) -> Iterator[None]:
    """While a cluster runs, drivers this test process starts itself (a SparkSession, spark-submit, a
    notebook kernel) carry its RPC secret the way `status` tells users to: SPARK_CONF_DIR = its client
    conf dir (hyperspark.ops.targets.local.auth). When it ends, the latest cluster still running is the one
    attached (whatever order the fixtures end in); none left: SPARK_CONF_DIR is unset."""
    from hyperspark.ops.targets.local import auth

    folder = auth.client_conf_dir(target.state)
    if folder is not None:
        _ATTACHED.append(str(folder))
        os.environ["SPARK_CONF_DIR"] = str(folder)
    try:
        yield
    finally:
        if folder is not None:
            _ATTACHED.remove(str(folder))
            if _ATTACHED:
                os.environ["SPARK_CONF_DIR"] = _ATTACHED[-1]
            else:
                os.environ.pop("SPARK_CONF_DIR", None)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    from hyperspark.ops.targets.local import LocalTarget

    target = LocalTarget(tmp_path_factory.mktemp("hs-local"), hdfs=False, **cluster_ports())
    try:
        target.up(2)
        with attached(target):
            yield target
    finally:
        target.down()


@pytest.fixture
def fresh_local_target(tmp_path: Path) -> Iterator:
    """A LocalTarget on free ports in a fresh state dir, NOT started; always downed afterwards."""
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    from hyperspark.ops.targets.local import LocalTarget

    target = LocalTarget(tmp_path / "state", hdfs=False, **cluster_ports())
    try:
        yield target
    finally:
        target.down()
