"""Session fixture: a REAL HDFS (1 NameNode + 2 DataNodes) on free loopback ports.

Loaded for every test by tests/conftest.py. The Hadoop distribution is
``$HADOOP_HOME`` or the cached Hadoop 2.7.4 stand-in (built on first use by
scripts/hadoop-standin.sh; needs PyPI and the Debian mirror once). The cluster
is started lazily, only when a test asks for it, and always stopped by pid.

Ports come from ``HYPERSPARK_TEST_PORT_RANGE=LO-HI`` (default 20000-29999).
"""
from __future__ import annotations

import os
import random
import shutil
from typing import Iterator

import pytest

from hyperspark_ops.hdfs_cluster import DN_PORT_STRIDE, HdfsCluster, port_in_use
from hyperspark_ops.targets.base import OpsError

HDFS_TEST_DATANODES = 2


def hdfs_port_plan(datanodes: int = HDFS_TEST_DATANODES) -> dict[str, int]:
    """rpc_port, http_port and dn_base_port such that every port the cluster binds is free."""
    raw = os.environ.get("HYPERSPARK_TEST_PORT_RANGE", "20000-29999")
    lo, _, hi = raw.partition("-")
    span = 4 + DN_PORT_STRIDE * datanodes
    starts = list(range(int(lo), int(hi) - span + 2))
    random.shuffle(starts)
    for base in starts[:2000]:
        plan = {"rpc_port": base, "http_port": base + 1, "dn_base_port": base + 4}
        probe = HdfsCluster("/nonexistent", "/tmp/hyperspark-port-probe", datanodes=datanodes, **plan)
        if not any(port_in_use("127.0.0.1", p) for p in probe.ports().values()):
            return plan
    raise RuntimeError(f"no free HDFS port plan in {raw}")


def hdfs_missing() -> str | None:
    """Why a real HDFS cannot run here, or None."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "java is not installed (the NameNode and DataNodes are JVMs)"
    if shutil.which("bash") is None:
        return "bash is not installed (needed by bin/hdfs)"
    return None


def hadoop_home_or_skip():
    reason = hdfs_missing()
    if reason:
        pytest.skip(reason)
    from hyperspark_ops.hadoop_dist import ensure_hadoop_home

    try:
        return ensure_hadoop_home()
    except OpsError as exc:
        pytest.skip(f"no Hadoop distribution to run HDFS from: {exc}")


@pytest.fixture(scope="session")
def hadoop_home():
    return hadoop_home_or_skip()


@pytest.fixture(scope="session")
def hdfs_cluster(hadoop_home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HdfsCluster]:
    cluster = HdfsCluster(
        hadoop_home,
        tmp_path_factory.mktemp("hdfs"),
        datanodes=HDFS_TEST_DATANODES,
        **hdfs_port_plan(),
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
