"""A REAL Spark Connect server attached to the session's ``local_cluster``: what ``hyperspark up --connect``
starts (``LocalTarget.start_connect``: the pyspark distribution's SparkConnectServer, by spark-submit, pid in
the cluster's state dir), on a free loopback port. Session-scoped and lazy; stopped by its pid at the end.

Its executors go back to the cluster after 5 s idle (dynamic allocation), so the tests that run after one
that used it still get every core of the session cluster.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.ports import free_port


@pytest.fixture(scope="session")
def local_connect(local_cluster) -> Iterator[str]:
    """The ``sc://127.0.0.1:PORT`` URL of a Connect server on the session cluster's master."""
    from hyperspark.ops.targets.local import connect_server

    patch = pytest.MonkeyPatch()
    patch.setenv(connect_server.IDLE_TIMEOUT_ENV, "5s")
    local_cluster.configure(connect_port=free_port())
    try:
        yield local_cluster.start_connect().url
    finally:
        connect_server.stop(local_cluster)
        patch.undo()
