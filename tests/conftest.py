"""The root conftest: the fixture modules every test can use, registered once.

* ``tests.spark_fixtures``: ``spark``, one local[2] SparkSession (session);
* ``tests.integration.cluster_fixtures``: ``local_cluster`` (session) and ``fresh_local_target``;
* ``tests.integration.connect_fixtures``: ``local_connect`` (session: a Spark Connect server on ``local_cluster``);
* ``tests.integration.gpu_fixtures``: ``gpu_cluster`` (package: 2 workers x 4 cores x 2 fake GPUs);
* ``tests.integration.hdfs_fixtures``: ``hadoop_home`` and ``hdfs_cluster`` (session);
* ``tests.live.compose_fixtures``: ``docker_engine`` and ``compose_stack`` (session).

All are lazy: nothing starts until a test asks, and each skips with the reason when what it needs
is absent. Free ports: :mod:`tests.ports`; paths in the checkout: :mod:`tests.paths`.
``tests.marker_report`` prints, at the end of every run, how many tests of each marker ran, failed
and skipped (with the skip reasons).

``testpkg`` (below) is the test user's package, defined here once for tests/api and tests/job.
"""
from __future__ import annotations

import pytest

from tests.paths import TESTPKG

pytest_plugins = [
    "tests.marker_report",
    "tests.spark_fixtures",
    "tests.integration.cluster_fixtures",
    "tests.integration.connect_fixtures",
    "tests.integration.gpu_fixtures",
    "tests.integration.hdfs_fixtures",
    "tests.live.compose_fixtures",
]


@pytest.fixture(scope="session")
def testpkg(spark):
    """``hs_testpkg`` (tests/api/pkgs), a user's package: put on the driver's path and shipped to the
    ``spark`` session's Python workers with addPyFile, as a user would, once per session."""
    from hyperspark.job import package

    spark.sparkContext.addPyFile(package.prepare(str(TESTPKG)))
    return TESTPKG
