"""Session fixture: a REAL HDFS (1 NameNode + 2 DataNodes) on free loopback ports.

Registered for every test by the root conftest (``pytest_plugins``). The Hadoop distribution is
``$HADOOP_HOME`` or the cached Hadoop 2.7.4 stand-in (built on first use by
scripts/hadoop-standin.sh; needs PyPI and the Debian mirror once). The cluster
is started lazily, only when a test asks for it, and always stopped by pid.

Ports come from ``HYPERSPARK_TEST_PORT_RANGE=LO-HI`` (default 20000-29999).
"""
from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest

from hyperspark.ops.hdfs.cluster import DN_PORT_STRIDE, HdfsCluster
from hyperspark.ops.model import OpsError
from tests.ports import free_port_block

HDFS_TEST_DATANODES = 2


def hdfs_port_plan(datanodes: int = HDFS_TEST_DATANODES) -> dict[str, int]:
    """rpc_port, http_port and dn_base_port: one free block holding every port the cluster binds."""
    base = free_port_block(4 + DN_PORT_STRIDE * datanodes)
    return {"rpc_port": base, "http_port": base + 1, "dn_base_port": base + 4}


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
    from hyperspark.ops.hdfs.dist import ensure_hadoop_home

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


@pytest.fixture
def private_hdfs(hadoop_home, tmp_path) -> Iterator[HdfsCluster]:
    """A HDFS of its own (1 NameNode + 1 DataNode) for a test that stops or restarts daemons, so the
    session's ``hdfs_cluster`` is never left recovering for the tests after it."""
    cluster = HdfsCluster(hadoop_home, tmp_path / "hdfs", datanodes=1, **hdfs_port_plan(1))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
