"""A REAL local standalone cluster whose workers advertise fake GPUs (``up --gpu-addresses 0,1``).

Spark does not check that a GPU address is a real device (its own tests fake them the same way), so this
proves the scheduling and the kit's confs on a machine without GPUs:

* ``gpu_cluster`` (package-scoped, lazy: one for test_gpu_cluster.py and test_gpu_trials.py): 2 workers x
  4 cores x 2 GPUs ``0,1`` (4 cores so GPUs, not cores, bound ``gpus: 0.5``), on free ports in a tmp
  state dir, always stopped by the target's ``down`` (by recorded pid) when the package ends, passed or
  failed. Tests that change its shape put it back (``scale 3`` then ``scale 2``). It yields a :class:`GpuCluster`: the ``LocalTarget`` (submit through it, or its
  ``spark_submit_argv``: drivers get ``spark.executor.resource.gpu.amount``) and the master URL (a
  SparkSession of your own needs the same executor conf: :data:`SESSION_CONF`).
* :func:`start_gpu_cluster`: the same as a context manager, for another shape or a test that kills workers.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.cluster_fixtures import attached, cluster_ports, spark_missing

ADDRESSES = ("0", "1")
#: what a SparkSession of a test's own needs for its executors to hold the workers' 2 GPUs (the local
#: target's submits and warm driver set this themselves: hyperspark.ops.gpus.executor_conf)
SESSION_CONF = {"spark.executor.resource.gpu.amount": str(len(ADDRESSES)), "spark.task.resource.gpu.amount": "0"}


@dataclass
class GpuCluster:
    target: Any  # hyperspark.ops.targets.local.LocalTarget
    master_url: str  # spark://127.0.0.1:PORT
    workers: int
    gpus_per_worker: int
    cores_per_worker: int


@contextlib.contextmanager
def start_gpu_cluster(state_dir: Path, workers: int = 2, addresses: tuple[str, ...] = ADDRESSES,
                      cores: int = 2) -> Iterator[GpuCluster]:
    """Up a local cluster of ``workers`` x ``cores`` cores x fake GPUs ``addresses``; down it afterwards."""
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    from hyperspark.ops.targets.local import LocalTarget

    target = LocalTarget(state_dir, hdfs=False, gpus_per_worker=len(addresses), gpu_addresses=",".join(addresses),
                         **cluster_ports())
    try:
        target.up(workers, worker_cores=cores)
        with attached(target):
            yield GpuCluster(target, target.master_url, workers, len(addresses), cores)
    finally:
        target.down()


@pytest.fixture(scope="package")
def gpu_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpuCluster]:
    with start_gpu_cluster(tmp_path_factory.mktemp("hs-gpu"), cores=4) as cluster:
        yield cluster
