"""The `hyperspark` CLI against a REAL local Spark standalone cluster (session-scoped).

Every assertion about workers is checked against the master's own ``/json/``
API, not against what our code says about itself.
"""
from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from hyperspark.ops import spark_api
from hyperspark.ops.cli import cli
from hyperspark.ops.util.proc import group_members, pid_alive
from tests.paths import REPO
from tests.ports import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

SPEC = REPO / "examples" / "breast_cancer_sklearn.yaml"
DATA = REPO / "examples" / "data" / "breast_cancer.csv"


def hs(target, *args: str, env_extra: dict | None = None):
    """Run the CLI on ``target``'s state dir (ports etc. are read back from its state.json)."""
    result = CliRunner().invoke(
        cli, ["--target", "local", "--state-dir", str(target.state.root), *args], prog_name="hyperspark",
        env=env_extra,
    )
    return result


def alive_in_master(target) -> list[dict]:
    data = spark_api.master_json(target.master_ui)
    assert data is not None, "master UI does not answer"
    return [w for w in data["workers"] if w["state"] == "ALIVE"]


def test_up_shows_two_alive_workers(local_cluster) -> None:
    alive = alive_in_master(local_cluster)
    assert len(alive) == 2
    assert {w["host"] for w in alive} == {"127.0.0.1"}
    result = hs(local_cluster, "status", "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["master_state"] == "ALIVE"
    ours = [w for w in status["workers"] if w["state"] == "ALIVE"]
    assert sorted(w["id"] for w in ours) == sorted(w["id"] for w in alive)
    assert all(w["pid"] and pid_alive(w["pid"]) for w in ours)
    assert status["storage"]["kind"] == "dir" and status["storage"]["writable"] is True


def test_rest_server_is_off_and_everything_is_on_loopback(local_cluster) -> None:
    data = spark_api.master_json(local_cluster.master_ui)
    assert data["url"] == local_cluster.master_url
    assert local_cluster.master_url.startswith("spark://127.0.0.1:")
    assert "spark.master.rest.enabled false" in (local_cluster.state.conf_dir / "spark-daemons.conf").read_text()
    assert "REST server" not in local_cluster.logs("master")


def test_up_again_keeps_the_running_cluster(local_cluster) -> None:
    before = {w["id"] for w in alive_in_master(local_cluster)}
    result = hs(local_cluster, "up", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert {w["id"] for w in alive_in_master(local_cluster)} == before


def test_scale_1_2_1_shows_in_master_api(local_cluster) -> None:
    try:
        result = hs(local_cluster, "scale", "1")
        assert result.exit_code == 0, result.output
        assert len(alive_in_master(local_cluster)) == 1
        assert len(local_cluster._worker_indices()) == 1

        result = hs(local_cluster, "scale", "2", "--json")
        assert result.exit_code == 0, result.output
        assert len(alive_in_master(local_cluster)) == 2
        assert len([w for w in json.loads(result.stdout)["workers"] if w["state"] == "ALIVE"]) == 2

        result = hs(local_cluster, "scale", "1")
        assert result.exit_code == 0, result.output
        assert len(alive_in_master(local_cluster)) == 1
    finally:
        local_cluster.scale(2)
    assert len(alive_in_master(local_cluster)) == 2


def test_doctor_passes_on_a_running_cluster(local_cluster) -> None:
    result = hs(local_cluster, "doctor", "--json")
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert all(c["ok"] for c in checks.values()), checks
    assert checks["workers"]["detail"].startswith("2 ALIVE")


def test_second_cluster_on_the_same_port_is_refused(local_cluster, tmp_path: Path) -> None:
    port = local_cluster._setting("master_port")
    result = CliRunner().invoke(
        cli, ["--state-dir", str(tmp_path / "other"), "up", "--no-hdfs", "--master-port", str(port),
              "--ui-port", str(free_port()), "--worker-ui-port", str(free_port())],
        prog_name="hyperspark",
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: port {port} (master RPC) is in use: stop what holds it or choose another port"
    )


def test_upload_submit_results_end_to_end(local_cluster) -> None:
    up = hs(local_cluster, "upload", str(DATA), "data/bc.csv", "--json")
    assert up.exit_code == 0, up.output
    dest = json.loads(up.stdout)["dest"]
    assert dest.startswith("file://") and dest.endswith("/data/bc.csv")
    assert hs(local_cluster, "upload", str(DATA), "data/bc.csv").exit_code == 1  # no overwrite

    output = (local_cluster.state.storage_dir / "runs").as_uri()
    sub = hs(local_cluster, "submit", str(SPEC), "--run-id", "e2e-1", "--json",
             "--set", f"dataset.uri={dest}", "--set", f"output={output}")
    assert sub.exit_code == 0, sub.output
    result = json.loads(sub.stdout)
    assert result["exit_code"] == 0
    assert result["output_uri"] == f"{output}/e2e-1"
    summary = result["summary"]
    assert set(summary["test_metrics"]) >= {"roc_auc", "accuracy"}
    assert 0.5 < summary["test_metrics"]["roc_auc"] <= 1.0

    res = hs(local_cluster, "results", "e2e-1", "--json")
    assert res.exit_code == 0, res.output
    trials = json.loads(res.stdout)["trials"]
    assert len(trials) == 2 * 3 * 2  # the example's grid
    assert [t["best"] for t in trials].count(True) == 1
    assert trials[0]["best"] and trials[0]["params"] == summary["best_params"]
    means = [t["mean"] for t in trials]
    assert means == sorted(means, reverse=True)  # roc_auc: higher first
    # the trials really ran on the cluster's executors, and the app is known to the master
    assert {str(t["executor_id"]) for t in trials} <= {"0", "1", "2", "3"}
    apps = spark_api.master_json(local_cluster.master_ui)["completedapps"]
    assert summary["cluster"]["app_id"] in {a["id"] for a in apps}

    log = hs(local_cluster, "logs", "driver", "--lines", "0")
    assert log.exit_code == 0
    assert "HYPERSPARK_RESULT" in log.output

    # the history server (started by `up`, listed by `status`) still shows the finished application
    st = hs(local_cluster, "status", "--json")
    history = json.loads(st.stdout)["urls"]["history"]
    assert history == local_cluster.history_ui
    deadline = time.monotonic() + 90
    apps: list = []
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{history}/api/v1/applications", timeout=5) as r:
                apps = json.load(r)
        except OSError:
            apps = []
        if summary["cluster"]["app_id"] in {a["id"] for a in apps}:
            break
        time.sleep(1)
    assert summary["cluster"]["app_id"] in {a["id"] for a in apps}, apps


def test_failing_job_exits_non_zero_with_one_line(local_cluster, tmp_path: Path) -> None:
    missing = (tmp_path / "nope.csv").as_uri()
    sub = hs(local_cluster, "submit", str(SPEC), "--set", f"dataset.uri={missing}",
             "--set", f"output={(tmp_path / 'runs').as_uri()}")
    assert sub.exit_code == 2, sub.output
    lines = [line for line in sub.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "nope.csv" in lines[0]


def test_logs_of_master_and_workers(local_cluster) -> None:
    master = hs(local_cluster, "logs", "master", "--lines", "0")
    assert master.exit_code == 0
    assert "Starting Spark master at spark://127.0.0.1:" in master.output
    worker = hs(local_cluster, "logs", "worker-1", "--lines", "0")
    assert worker.exit_code == 0
    assert "Successfully registered with master" in worker.output


def test_down_leaves_no_process_behind(fresh_local_target) -> None:
    target = fresh_local_target
    ports = target._overrides
    up = hs(target, "up", "--workers", "1", "--no-hdfs", "--master-port", str(ports["master_port"]),
            "--ui-port", str(ports["ui_port"]), "--worker-ui-port", str(ports["worker_ui_port"]),
            "--history-ui-port", str(ports["history_ui_port"]))
    assert up.exit_code == 0, up.output
    pids = target.state.recorded()
    assert set(pids) - {"jvm-archive"} == {"master", "worker-1", "history"}  # the dump: see below
    assert all(pid_alive(p) for p in pids.values())
    assert len(alive_in_master(target)) == 1

    down = hs(target, "down", "--json")
    assert down.exit_code == 0, down.output
    # the JVM class-data archive is made once per machine right after `up`: its dump may still run here
    assert sorted(set(json.loads(down.stdout)["stopped"]) - {"jvm-archive"}) == ["history", "master", "worker-1"]
    for name, pid in pids.items():
        assert not pid_alive(pid), f"{name} (pid {pid}) still runs"
        assert group_members(pid) == [], f"{name}'s process group still has members"
    assert target.state.recorded() == {}
    assert spark_api.master_json(target.master_ui, timeout=1) is None
    status = hs(target, "status")
    assert status.exit_code == 1 and "run `hyperspark up` first" in status.output


def test_up_returns_with_every_worker_alive_and_the_history_server_coming_up(fresh_local_target) -> None:
    """Workers start beside the master and the history server after them, not waited for: when `up`
    returns, the master's own /json already lists every worker ALIVE, no worker had to retry its
    registration, status and doctor are right at once, and the history server answers soon after."""
    target = fresh_local_target
    ports = target._overrides
    up = hs(target, "up", "--workers", "2", "--no-hdfs", "--master-port", str(ports["master_port"]),
            "--ui-port", str(ports["ui_port"]), "--worker-ui-port", str(ports["worker_ui_port"]),
            "--history-ui-port", str(ports["history_ui_port"]), "--json")
    assert up.exit_code == 0, up.output
    data = spark_api.master_json(target.master_ui)  # at once: no waiting after `up` returned
    assert data is not None and data["status"] == "ALIVE"
    alive = [w for w in data["workers"] if w["state"] == "ALIVE"]
    assert sorted(spark_api.worker_ui_port(spark_api.parse_worker(w)) for w in alive) == \
        [ports["worker_ui_port"], ports["worker_ui_port"] + 1]
    assert json.loads(up.stdout)["urls"]["history"] == target.history_ui
    for i in (1, 2):
        log = target.state.log_file(f"worker-{i}").read_text()
        assert "Successfully registered with master" in log
        assert "Failed to connect to master" not in log, f"worker-{i} started before the master listened"

    st = hs(target, "status", "--json")
    assert st.exit_code == 0, st.output
    status = json.loads(st.stdout)
    assert status["urls"]["history"] == target.history_ui
    assert len([w for w in status["workers"] if w["state"] == "ALIVE"]) == 2
    doctor = hs(target, "doctor")
    assert doctor.exit_code == 0, doctor.output

    deadline = time.monotonic() + 120
    while True:  # the history server finishes starting in the background
        try:
            with urllib.request.urlopen(f"{target.history_ui}/api/v1/applications", timeout=5) as r:
                assert r.status == 200
                break
        except OSError:
            assert time.monotonic() < deadline, "the history server never answered"
            time.sleep(0.5)


def test_master_dying_during_up_is_one_line_and_leaves_nothing_running(fresh_local_target) -> None:
    """A daemon JVM that cannot start (here: a heap too small to boot) fails `up` at once with the
    master's reason and log, stops what was started (workers are started early now), exit 1."""
    target = fresh_local_target
    ports = target._overrides
    up = hs(target, "up", "--workers", "2", "--no-hdfs", "--master-port", str(ports["master_port"]),
            "--ui-port", str(ports["ui_port"]), "--worker-ui-port", str(ports["worker_ui_port"]),
            "--history-ui-port", str(ports["history_ui_port"]), env_extra={"SPARK_DAEMON_MEMORY": "1k"})
    assert up.exit_code == 1, up.output
    assert "Traceback" not in up.output and len(up.output.strip().splitlines()) == 1, up.output
    assert "master exited during start-up" in up.output
    assert target.state.recorded() == {}
    assert spark_api.master_json(target.master_ui, timeout=1) is None


def test_up_mlflow_runs_a_managed_tracking_server(fresh_local_target) -> None:
    pytest.importorskip("mlflow", reason="mlflow is not installed (the tracking extra)")
    target = fresh_local_target
    ports = target._overrides
    mlflow_port = free_port()
    up = hs(target, "up", "--workers", "1", "--no-hdfs", "--mlflow", "--master-port", str(ports["master_port"]),
            "--ui-port", str(ports["ui_port"]), "--worker-ui-port", str(ports["worker_ui_port"]),
            "--history-ui-port", str(ports["history_ui_port"]), "--json",
            env_extra={"HYPERSPARK_MLFLOW_PORT": str(mlflow_port)})
    assert up.exit_code == 0, up.output
    url = json.loads(up.stdout)["urls"]["mlflow"]
    assert url == f"http://127.0.0.1:{mlflow_port}"
    with urllib.request.urlopen(f"{url}/health", timeout=10) as r:
        assert r.status == 200
    pid = target.state.recorded()["mlflow"]
    st = hs(target, "status", "--json")
    assert json.loads(st.stdout)["urls"]["mlflow"] == url
    down = hs(target, "down", "--json")
    assert "mlflow" in json.loads(down.stdout)["stopped"]
    assert not pid_alive(pid) and group_members(pid) == []


@pytest.mark.hdfs
def test_local_target_with_real_hdfs_end_to_end(fresh_local_target, hadoop_home) -> None:
    """`up --hdfs`: upload over WebHDFS, Spark reads it from hdfs://, the run's output lands on HDFS."""
    from tests.integration.hdfs_fixtures import hdfs_port_plan

    target = fresh_local_target
    plan = hdfs_port_plan(datanodes=1)
    ports = target._overrides
    env = {
        "HADOOP_HOME": str(hadoop_home),
        "HYPERSPARK_HDFS_RPC_PORT": str(plan["rpc_port"]),
        "HYPERSPARK_HDFS_HTTP_PORT": str(plan["http_port"]),
        "HYPERSPARK_HDFS_DATANODE_PORT": str(plan["dn_base_port"]),
        "HYPERSPARK_DRIVER_UI_PORT": str(ports["driver_ui_port"]),
    }
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, ["--state-dir", str(target.state.root), *args], env=env, prog_name="hyperspark")

    up = run("up", "--workers", "1", "--hdfs", "--master-port", str(ports["master_port"]),
             "--ui-port", str(ports["ui_port"]), "--worker-ui-port", str(ports["worker_ui_port"]),
             "--history-ui-port", str(ports["history_ui_port"]), "--json")
    assert up.exit_code == 0, up.output
    storage = json.loads(up.stdout)["storage"]
    fs_uri = f"hdfs://127.0.0.1:{plan['rpc_port']}"
    assert storage["kind"] == "hdfs" and storage["uri"] == fs_uri
    assert storage["live_datanodes"] == 1 and storage["safemode"] is False
    hdfs_pids = {n: p for n, p in _hdfs_pids(target).items()}
    assert set(hdfs_pids) == {"namenode", "datanode-1"}

    doctor = run("doctor", "--json")
    assert doctor.exit_code == 0, doctor.output
    names = {c["name"] for c in json.loads(doctor.stdout)}
    assert {"hdfs safemode", "hdfs datanodes"} <= names

    upload = run("upload", str(DATA), "--json")
    assert upload.exit_code == 0, upload.output
    dest = json.loads(upload.stdout)["dest"]
    assert dest == f"{fs_uri}/data/breast_cancer.csv"

    sub = run("submit", str(SPEC), "--run-id", "hdfs-1", "--json",
              "--set", f"dataset.uri={dest}", "--set", f"output={fs_uri}/runs")
    assert sub.exit_code == 0, sub.output
    assert json.loads(sub.stdout)["output_uri"] == f"{fs_uri}/runs/hdfs-1"
    res = run("results", "hdfs-1", "--json")
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["trials"]) == 12

    down = run("down")
    assert down.exit_code == 0, down.output
    for name, pid in hdfs_pids.items():
        assert not pid_alive(pid), f"HDFS {name} (pid {pid}) still runs after down"


def _hdfs_pids(target) -> dict[str, int]:
    pids_dir = target.state.root / "hdfs" / "pids"
    return {p.stem: int(p.read_text()) for p in pids_dir.glob("*.pid")}
