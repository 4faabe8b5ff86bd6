"""A REAL Spark Connect server from the pyspark distribution (``start-connect-server.sh``), on 127.0.0.1 and
a free port, ``local[2]``, its Python workers on this interpreter; started once per session on first use
(``hyperspark.ops.targets.local.connect.start``) and stopped by its pid at the end, also on failure.

``connect_spark`` is a client session (pyspark's Connect builder: this pytest process may also hold the
classic ``spark`` fixture's SparkContext, next to which pyspark's own builder refuses a remote session).
"""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.integration.cluster_fixtures import spark_missing
from tests.ports import free_port


def connect_missing() -> str | None:
    import importlib.util

    for mod in ("grpc", "grpc_status", "google.rpc", "zstandard"):
        try:
            if importlib.util.find_spec(mod) is None:
                return f"the Spark Connect client needs {mod}: pip install 'hyperspark[connect]'"
        except ModuleNotFoundError:
            return f"the Spark Connect client needs {mod}: pip install 'hyperspark[connect]'"
    return None


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    reason = spark_missing() or connect_missing()
    if reason:
        pytest.skip(reason)
    from hyperspark.ops.targets.local import connect

    server = connect.start(free_port(), "local[2]", tmp_path_factory.mktemp("connect-server"))
    try:
        yield server
    finally:
        connect.stop(server)


@pytest.fixture(scope="module")
def connect_spark(connect_server) -> Iterator:
    from pyspark.sql.connect.session import SparkSession

    s = SparkSession.builder.remote(connect_server.url).getOrCreate()
    try:
        yield s
    finally:
        s.stop()
