"""Trials under a task resource profile on a REAL standalone cluster whose workers advertise fake GPUs
(Spark does not check that an address is a device: its own tests fake them the same way; no GPU here).

Every trial is an objective that holds its slot ~1 s and reports the address it was given; the rows'
``started_at``/``ended_at`` on the executors show what ran at once. Two trials overlap when one started
before the other ended.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from hyperspark.job.protocol import RunSummary, parse_trials
from tests.integration.gpu_fixtures import start_gpu_cluster
from tests.paths import REPO, TESTPKG

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

BREAST_CANCER = REPO / "examples" / "data" / "breast_cancer.csv"


def _run(cluster, tmp_path: Path, run_id: str, resources: dict, trials: int = 8, **extra):
    spec = {"name": "gpu", "dataset": {"uri": str(BREAST_CANCER), "label": "target"},
            "objective": "hs_testpkg.train:gpu_probe", "search": {"type": "grid"},
            "space": {"x": list(range(trials))}, "resources": resources, "seed": 1,
            "output": str(tmp_path / "runs"), **extra}
    path = tmp_path / f"{run_id}.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = cluster.target.submit(path, run_id=run_id, packages=[TESTPKG], cold=True)
    assert res.exit_code == 0, res.error
    out = tmp_path / "runs" / run_id
    rows = parse_trials((out / "trials.jsonl").read_text())
    return RunSummary.model_validate_json((out / "summary.json").read_text()), rows


def _overlapping(rows):
    return [(a, b) for a, b in itertools.combinations(rows, 2)
            if a.started_at < b.ended_at and b.started_at < a.ended_at]


def _max_at_once(rows, key=lambda r: "all") -> int:
    """The most rows of one key running at the same instant (checked at every start)."""
    return max(sum(1 for o in rows if key(o) == key(r) and o.started_at <= r.started_at < o.ended_at)
               for r in rows)


def test_one_gpu_per_trial_never_shares_an_address_and_sees_its_own(gpu_cluster, tmp_path):
    summary, rows = _run(gpu_cluster, tmp_path, "g1", {"gpus": 1})
    assert len(rows) == 8 and all(r.ok for r in rows)
    assert summary.cluster.slots == 4  # 2 executors x 2 GPUs, one GPU per trial
    for r in rows:
        assert r.resources == {"cpus": 1, "gpus": 1.0} and len(r.devices) == 1
        assert r.metrics["cuda"] == float(r.devices[0]) == r.metrics["held"]  # env == what it was given
        assert r.slot.endswith(f"/gpu{r.devices[0]}")  # the report's timeline: a lane per device
    gpu = lambda r: (r.executor_id, r.devices[0])  # noqa: E731 - an address is per executor (per worker)
    assert all(gpu(a) != gpu(b) for a, b in _overlapping(rows))
    assert 2 <= _max_at_once(rows) <= 4


def test_half_a_gpu_shares_an_address_two_ways(gpu_cluster, tmp_path):
    summary, rows = _run(gpu_cluster, tmp_path, "g05", {"gpus": 0.5}, trials=16)  # 4 cores: never the limit
    assert len(rows) == 16 and all(r.ok for r in rows)
    assert summary.cluster.slots == 8  # 2 executors x 2 GPUs x 2 trials each
    assert _max_at_once(rows, key=lambda r: (r.executor_id, r.devices[0])) <= 2
    assert _max_at_once(rows) <= 8


SESSION_SCRIPT = """
import json, sys
from pyspark.sql import SparkSession
import hyperspark
master, pkg, out, data = sys.argv[1:5]
spark = (SparkSession.builder.master(master).appName("one-core-tasks")
         .config("spark.task.cpus", "1").config("spark.dynamicAllocation.enabled", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.ui.enabled", "false").config("spark.executor.resource.gpu.amount", "2")
         .config("spark.pyspark.python", sys.executable).getOrCreate())
r = hyperspark.tune(objective="hs_testpkg.train:gpu_probe", space={"x": list(range(6))}, data=data,
                    label="target", search="grid", resources={"cpus": 4}, output=out, py_files=[pkg], spark=spark)
assert spark.sparkContext.getConf().get("spark.task.cpus") == "1"  # the session kept its 1-core tasks
print("RESULT " + json.dumps({"profile": r.summary.cluster.profile, "slots": r.summary.cluster.slots,
                              "out": r.summary.output_uri}))
spark.stop()
"""


def test_four_core_trials_in_a_one_core_session(gpu_cluster, tmp_path):
    """cpus: 4 on 4-core workers, from the Python API in a user's session built with spark.task.cpus=1 (a
    task resource profile, not a new session): one trial per worker at once, and the trial's threads are 4."""
    import json
    import os
    import subprocess
    import sys

    # the driver imports the objective from the test package; py_files ships it to the executors
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, PYTHONPATH=str(TESTPKG.parent))
    proc = subprocess.run([sys.executable, "-c", SESSION_SCRIPT, gpu_cluster.master_url, str(TESTPKG),
                           str(tmp_path / "runs"), str(BREAST_CANCER)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    got = json.loads(line[len("RESULT "):])
    assert got["profile"] is True and got["slots"] == 2
    rows = parse_trials((Path(got["out"].removeprefix("file://")) / "trials.jsonl").read_text())
    assert len(rows) == 6 and all(r.ok and r.metrics["cpus"] == 4.0 and r.metrics["n_held"] == 0.0 for r in rows)
    assert _max_at_once(rows, key=lambda r: r.executor_id) == 1


def test_a_request_no_worker_meets_fails_before_any_trial(gpu_cluster, tmp_path):
    spec = {"name": "gpu", "dataset": {"uri": str(BREAST_CANCER), "label": "target"},
            "objective": "hs_testpkg.train:gpu_probe", "search": {"type": "grid"}, "space": {"x": [1, 2]},
            "resources": {"gpus": 4}, "output": str(tmp_path / "runs")}
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = gpu_cluster.target.submit(path, run_id="big", packages=[TESTPKG], cold=True)
    assert res.exit_code == 2 and res.error.startswith("resources.gpus=4: no executor has 4 GPUs"), res.error
    assert not (tmp_path / "runs" / "big" / "trials.jsonl").exists()


def test_asha_and_resume_under_a_gpu_profile(gpu_cluster, tmp_path):
    """ASHA's rungs run under the profile (every row holds one GPU); every (trial, rung) is recorded once;
    resuming the finished run runs nothing again."""
    es = {"type": "asha", "resource": "epochs", "min": 1, "max": 9, "reduction": 3}
    space = {"x": [f"c{i}" for i in range(1, 10)]}
    summary, rows = _run(gpu_cluster, tmp_path, "asha", {"gpus": 1}, early_stopping=es,
                         **{"objective": "hs_testpkg.train:curve", "space": space})
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys)) and all(r.ok for r in rows)
    # which rung-0 results promote depends on the order they land in (ASHA decides as each lands; with
    # fewer than `reduction` results nothing goes up), so promotions may all come from the drain; what
    # never varies: some configuration reached the full budget, and only ASHA's three decisions appear
    decisions = {r.decision for r in rows}
    assert {"prune", "complete"} <= decisions <= {"promote", "prune", "complete"}
    assert any(r.rung == 2 and r.budget == 9 and r.decision == "complete" for r in rows)
    assert all(len(r.devices) == 1 for r in rows) and summary.early_stopping.rungs == [1, 3, 9]
    path = tmp_path / "asha.yaml"
    again = gpu_cluster.target.submit(path, run_id="asha", resume=True, packages=[TESTPKG], cold=True)
    assert again.exit_code == 0, again.error
    assert parse_trials((tmp_path / "runs" / "asha" / "trials.jsonl").read_text()) == rows


def test_a_gpu_worker_killed_mid_search_loses_no_trial(tmp_path_factory, tmp_path):
    import psutil

    from tests.integration.test_faults import executors_of_worker, kill_tree, submit_in_thread, wait_for

    with start_gpu_cluster(tmp_path_factory.mktemp("gpukill")) as cluster:
        target = cluster.target
        spec = {"name": "gkill", "dataset": {"uri": str(BREAST_CANCER), "label": "target"},
                "objective": "hs_testpkg.train:gpu_probe", "search": {"type": "grid"},
                "space": {"x": list(range(12))}, "resources": {"gpus": 1}, "output": str(tmp_path / "runs")}
        path = tmp_path / "gkill.yaml"
        path.write_text(yaml.safe_dump(spec))
        run_dir = tmp_path / "runs" / "gkill"
        thread, box = submit_in_thread(target, path, "gkill", packages=[TESTPKG], cold=True)
        victim_dir = target.state.work_dir / "worker-2"
        wait_for(lambda: any(executors_of_worker(victim_dir)) and (run_dir / "trials.jsonl").exists(), 240,
                 "the search to be running on both GPU workers")
        kill_tree([psutil.Process(target.state.read_pid("worker-2")), *executors_of_worker(victim_dir)])
        thread.join(600)
        assert not thread.is_alive() and "error" not in box, box.get("error")
        assert box["result"].exit_code == 0, box["result"].error
        rows = parse_trials((run_dir / "trials.jsonl").read_text())
        assert sorted(r.params["x"] for r in rows) == list(range(12))  # each trial once
        assert all(r.ok and len(r.devices) == 1 for r in rows)


def test_a_mixed_cluster_gives_gpu_trials_only_to_gpu_workers(tmp_path_factory, tmp_path):
    """One GPU-less worker (the kit's plain cluster) and one that advertises 2 fake GPUs (started by hand, as a
    compose `gpu` profile worker or a k8s GPU node joins). The ONE submit path asks executors for GPUs only
    for a run whose trials need them (hyperspark.ops.gpus.submit_conf): that run's executors, and so its
    trials, land only on the GPU worker; a CPU run on the same cluster uses both workers."""
    from hyperspark.ops import gpus, spark_api
    from hyperspark.ops.targets.local import LocalTarget
    from tests.integration.cluster_fixtures import cluster_ports

    target = LocalTarget(tmp_path_factory.mktemp("mixed"), hdfs=False, **cluster_ports())
    try:
        target.up(1, worker_cores=2)  # worker-1: no GPUs
        daemons = target.daemons
        script = gpus.write_discovery_script(tmp_path / "gpu-discovery.sh", ["0", "1"], 2)
        conf = tmp_path / "gpu-worker.conf"
        props = {**dict(line.split(" ", 1) for line in daemons.write_conf().read_text().splitlines()),
                 **gpus.worker_conf(2, script)}
        conf.write_text("".join(f"{k} {v}\n" for k, v in props.items()))
        daemons.start_worker(2, 2, "1g", conf)
        spark_api.wait_alive_workers(daemons.master_ui, 2, 120)
        assert sorted(w.gpus.count for w in target.status().workers) == [0, 2]

        cluster = type("Cluster", (), {"target": target})
        summary, rows = _run(cluster, tmp_path, "mixgpu", {"gpus": 1}, trials=6)
        assert len(rows) == 6 and all(r.ok and len(r.devices) == 1 for r in rows)
        assert summary.cluster.slots == 2  # the GPU worker's one executor, 2 GPUs, one per trial
        assert len({r.executor_id for r in rows}) == 1
        (tmp_path / "cpu").mkdir()
        summary, rows = _run(cluster, tmp_path / "cpu", "mixcpu", {}, trials=4,
                             objective="hs_testpkg.train:curve", space={"x": ["c1", "c2", "c3", "c4"]})
        assert all(r.ok for r in rows) and summary.cluster.slots == 4  # both workers, 2 cores each
    finally:
        target.down()
