"""A REAL local standalone cluster with GPUs: 2 workers x 2 fake GPUs (``up --gpu-addresses 0,1``; Spark
does not check that an address is a real device). What the kit promises, checked against the master's own
``/json/`` and a real driver: every worker advertises its 2 GPUs, ``status``/``doctor`` show them, ``scale``
adds workers with the same GPUs, the running cluster's GPUs cannot be changed by ``up``, and a driver
started with the target's confs gets executors that hold the GPUs, which a task resource profile hands
out one per task. The cluster: ``tests/integration/gpu_fixtures.py`` (``gpu_cluster``)."""
from __future__ import annotations

import json
import subprocess
import textwrap

import pytest
from click.testing import CliRunner

from hyperspark.ops import spark_api
from hyperspark.ops.cli import cli

pytestmark = [pytest.mark.cluster, pytest.mark.spark]


def hs(cluster, *args: str):
    return CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(cluster.target.state.root), *args],
                              prog_name="hyperspark")


def alive(cluster) -> list[dict]:
    data = spark_api.master_json(cluster.target.master_ui)
    assert data is not None, "the master UI does not answer"
    return [w for w in data["workers"] if w["state"] == "ALIVE"]


def test_status_and_doctor_show_two_gpus_per_worker(gpu_cluster) -> None:
    workers = alive(gpu_cluster)
    assert len(workers) == 2
    for w in workers:  # the master itself: what each worker registered with
        assert w["resources"]["gpu"]["addresses"] == ["0", "1"]
    result = hs(gpu_cluster, "status", "--json")
    assert result.exit_code == 0, result.output
    ours = [w for w in json.loads(result.stdout)["workers"] if w["state"] == "ALIVE"]
    assert [(w["gpus"]["count"], w["gpus"]["addresses"]) for w in ours] == [(2, ["0", "1"])] * 2
    table = hs(gpu_cluster, "status")
    assert "GPUs: 4" in table.output and "0/2 (0,1)" in table.output
    doctor = hs(gpu_cluster, "doctor", "--json")
    (check,) = [c for c in json.loads(doctor.stdout) if c["name"] == "gpus"]
    assert check["ok"] and check["detail"].startswith("4 GPU(s) on 2 of 2 ALIVE worker(s)")
    changed = hs(gpu_cluster, "up", "--workers", "2", "--gpus-per-worker", "1")
    assert changed.exit_code == 1
    assert changed.output == "Error: the running cluster uses gpus per worker 2, not 1: run `hyperspark down` first\n"


PROBE = textwrap.dedent('''
    import json, time
    from pyspark import TaskContext
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("gpu-probe").getOrCreate()
    sc = spark.sparkContext
    deadline = time.time() + 90
    while sc._jsc.sc().getExecutorIds().size() < 2 and time.time() < deadline:
        time.sleep(0.3)
    profile = ResourceProfileBuilder().require(TaskResourceRequests().cpus(1).resource("gpu", 1.0)).build
    rows = (sc.parallelize(range(8), 8).withResources(profile)
            .map(lambda _: (TaskContext.get().resources()["gpu"].addresses, __import__("socket").gethostname()))
            .collect())
    print("GPU_PROBE " + json.dumps({"addresses": [a for a, _ in rows],
                                     "executors": sc._jsc.sc().getExecutorIds().size()}))
    spark.stop()
''')


def test_a_driver_with_the_targets_confs_holds_the_gpus_and_hands_one_per_task(gpu_cluster, tmp_path) -> None:
    """The local target's spark-submit (the cold driver; the warm one starts from the same command line)
    carries spark.executor.resource.gpu.amount: each worker's executor holds both GPUs (the master's
    resourcesused), and a stage under a 1-GPU task profile runs every task on one of them."""
    script = tmp_path / "gpu_probe.py"
    script.write_text(PROBE)
    argv = gpu_cluster.target.spark_submit_argv({}, script, [])
    assert "spark.executor.resource.gpu.amount=2" in argv
    done = subprocess.run(argv, env=gpu_cluster.target.env(), capture_output=True, text=True, timeout=300)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("GPU_PROBE ")]
    assert done.returncode == 0 and line, done.stderr[-3000:]
    probe = json.loads(line[0].split(" ", 1)[1])
    assert probe["executors"] == 2
    assert len(probe["addresses"]) == 8 and all(a in (["0"], ["1"]) for a in probe["addresses"])


def test_scale_adds_workers_with_the_same_gpus(gpu_cluster) -> None:
    result = hs(gpu_cluster, "scale", "3", "--json")
    assert result.exit_code == 0, result.output
    try:
        assert [w["resources"]["gpu"]["addresses"] for w in alive(gpu_cluster)] == [["0", "1"]] * 3
    finally:
        assert hs(gpu_cluster, "scale", "2").exit_code == 0
