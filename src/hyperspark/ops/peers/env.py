"""The one cluster every tool shares: a local standalone master + workers (``LocalTarget``, no HDFS) with
a real MLflow tracking server (``up --mlflow``: the Optuna study's storage), and one classic SparkSession
on it. Workers may declare more cores than the machine has (sleeping trials need none): the slot count
is part of every result. Everything is stopped by pid on the way out, also on failure."""
from __future__ import annotations

import contextlib
import os
import random
import sys
from pathlib import Path

from hyperspark.ops.util.net import port_free


def _port_block(size: int) -> int:
    starts = list(range(30000, 39000 - size))
    random.shuffle(starts)
    for s in starts[:2000]:
        if all(port_free(p) for p in range(s, s + size)):
            return s
    raise RuntimeError(f"no {size} consecutive free ports in 30000-39000")


def session(master: str, conf: dict[str, str], app: str = "hyperspark-peers"):
    """A classic session on ``master`` with the cluster's driver conf (its RPC secret among them)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:  # getOrCreate would hand back that one, not ours
        raise RuntimeError("the peers benchmark needs its own driver: this process already has a SparkContext "
                           "(run benchmarks/peers.py in its own process)")
    b = SparkSession.builder.master(master).appName(app)
    for k, v in conf.items():
        b = b.config(k, v)
    return (b
            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.hadoop.fs.defaultFS", "file:///")
            .config("spark.executor.memory", "2g")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())


@contextlib.contextmanager
def cluster(state: Path, workers: int, cores: int):
    """(spark, {"master", "mlflow_uri", "workers", "cores"}): up, yield, down."""
    from hyperspark.ops.targets.local import LocalTarget

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Ray on Spark runs `which ray` on the driver and in executors: this environment's bin first
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    base = _port_block(16)
    target = LocalTarget(state, hdfs=False, mlflow=True, master_port=base, ui_port=base + 1,
                         driver_ui_port=base + 2, history_ui_port=base + 3, mlflow_port=base + 4,
                         worker_ui_port=base + 5)
    spark = None
    try:
        target.up(workers, worker_cores=cores, worker_memory="3g")
        spark = session(target.master_url, target.driver_conf({"spark.executorEnv.PATH": os.environ["PATH"]}))
        spark.sparkContext.setLogLevel("ERROR")
        yield spark, {"master": target.master_url, "mlflow_uri": target.mlflow_url, "workers": workers,
                      "cores": cores}
    finally:
        if spark is not None:
            with contextlib.suppress(Exception):
                spark.stop()
        target.down()
