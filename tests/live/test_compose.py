"""Live tests of compose.yaml + ComposeTarget on a REAL Docker engine (skip where none is reachable).

The tests share one session stack (see compose_fixtures.compose_stack: testcontainers' DockerCompose
on the real compose.yaml) and run in file order: healthy -> up again -> scale -> upload/read back -> foreign PySpark script -> tuning run -> NameNode restart.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import time

import pytest

from hyperspark.ops.model import OpsError
from tests.live.compose_fixtures import REPO

live = pytest.mark.docker  # needs the real engine (the fixtures skip with the reason when absent)

SERVICES = {"spark-master", "spark-worker", "spark-history", "namenode", "datanode", "tools", "spark-connect"}
LABEL_SERVICE = "com.docker.compose.service"


def _health(container) -> str:
    container.reload()
    return (container.attrs["State"].get("Health") or {}).get("Status", "none")


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(1)


def _alive_on_master(target) -> int:
    return len(target.status().alive_workers)


@live
def test_stack_comes_up_healthy(compose_stack):
    containers = compose_stack.containers()
    assert {c.labels[LABEL_SERVICE] for c in containers} == SERVICES
    assert {c.name: _health(c) for c in containers} == {c.name: "healthy" for c in containers}
    status = compose_stack.status()
    assert status.master_state == "ALIVE"
    assert len(status.alive_workers) == 1
    assert status.storage.live_datanodes == 2
    assert status.storage.safemode is False
    assert status.storage.replication == 2
    # UIs are published on loopback only
    for c in containers:
        for bindings in (c.attrs["NetworkSettings"]["Ports"] or {}).values():
            assert all(b["HostIp"] == "127.0.0.1" for b in bindings or [])
    assert all(check.ok for check in compose_stack.doctor()), compose_stack.doctor()
    assert "authentication enabled" in compose_stack.logs("master")  # Spark RPC auth is on


@live
def test_connect_profile_serves_spark_connect_on_loopback(compose_stack):
    """The `connect` profile's server is healthy (its healthcheck: a gRPC call to the Connect service, answered
    over HTTP/2 inside the container), a driver registered with the cluster's master, and its gRPC port is
    published on 127.0.0.1 only and answers there. (Queries through a Connect server: tests/notebooks and
    tests/integration/test_connect_endpoint.py; kept out of here, where every second counts.)"""
    from hyperspark.ops.targets.local.connect_server import answers_grpc

    (server,) = compose_stack.containers("spark-connect")
    assert _health(server) == "healthy"
    assert answers_grpc(_published(server, 15002))  # _published: bound on 127.0.0.1 only
    assert any(app.name == "Spark Connect server" for app in compose_stack.status().active_apps)


@live
def test_up_on_the_running_stack_is_idempotent(compose_stack):
    status = compose_stack.up(1)  # ComposeTarget.up on the stack DockerCompose started
    assert len(status.alive_workers) == 1
    assert status.storage.live_datanodes == 2 and status.storage.safemode is False
    assert {c.labels[LABEL_SERVICE] for c in compose_stack.containers()} == SERVICES


@live
def test_workers_scale_1_3_1_as_the_master_reports(compose_stack):
    status = compose_stack.scale(3)
    assert len(status.alive_workers) == 3
    assert len(compose_stack.containers("spark-worker")) == 3
    assert len({w.host for w in status.alive_workers}) == 3
    status = compose_stack.scale(1)
    assert len(status.alive_workers) == 1
    assert len(compose_stack.containers("spark-worker")) == 1
    assert _alive_on_master(compose_stack) == 1


@live
def test_scale_rejects_more_than_max(compose_stack):
    with pytest.raises(OpsError, match="runs at most 16 workers"):
        compose_stack.scale(compose_stack.max_workers + 1)


READ_BACK = """
import hashlib, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("hs-read-back").getOrCreate()
lines = spark.sparkContext.textFile(sys.argv[1], minPartitions=2).collect()
print("READ_BACK", len(lines), hashlib.sha256("\\n".join(lines).encode()).hexdigest(), flush=True)
spark.stop()
"""


@live
def test_uploaded_file_is_read_back_by_spark_from_hdfs(compose_stack, tmp_path):
    rng = random.Random(5)
    lines = [f"{i},{rng.random():.12f},{'x' * rng.randint(0, 40)}" for i in range(20000)]
    data = tmp_path / "numbers.csv"
    data.write_text("\n".join(lines) + "\n")
    result = compose_stack.upload(data, "/live/numbers.csv")
    assert result.dest == "hdfs://namenode:8020/live/numbers.csv"
    assert result.bytes == data.stat().st_size
    assert result.checksum == hashlib.sha256(data.read_bytes()).hexdigest()

    with pytest.raises(OpsError, match="exists"):
        compose_stack.upload(data, "/live/numbers.csv")

    script = tmp_path / "read_back.py"
    script.write_text(READ_BACK)
    run = compose_stack.spark_submit(script, [result.dest])
    assert run.exit_code == 0, run.output[-3000:]
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("READ_BACK "))
    _, count, digest = line.split()
    assert int(count) == len(lines)
    assert digest == hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _hdfs_listing(target, directory: str) -> dict[str, tuple[str, str, str]]:
    """name -> (mode, replication, owner) as the NameNode container's own `hdfs dfs -ls` shows them."""
    run = target.exec(target.containers("namenode")[0], ["hdfs", "dfs", "-ls", directory])
    assert run.exit_code == 0, run.output
    rows = [ln.split() for ln in run.stdout.splitlines() if ln.startswith("-")]
    return {r[-1].rsplit("/", 1)[1]: (r[0], r[1], r[2]) for r in rows}


def _hdfs_sha256(target, path: str) -> str:
    run = target.exec(target.containers("namenode")[0], ["bash", "-c", f"hdfs dfs -cat {path} | sha256sum"])
    assert run.exit_code == 0, run.output
    return run.stdout.split()[0]


@live
@pytest.mark.parametrize("way", ["webhdfs", "exec"])
def test_upload_lands_byte_exact_under_the_final_name_and_leaves_no_temporary_file(
        compose_stack, tmp_path, monkeypatch, way):
    """Upload goes over WebHDFS from the host (DataNode redirects to their published ports); without a
    published DataNode port it falls back to the hdfs dfs script in the NameNode. Either way: the bytes
    read back by HDFS's own client, mode 644, the stack's replication, the superuser as owner, no temporary
    sibling left, --force replaces, and '..' is refused before anything is written."""
    if way == "exec":
        monkeypatch.setattr(type(compose_stack), "_webhdfs", lambda self, replication: None)  # no published DataNode
    first = tmp_path / "one.bin"
    first.write_bytes(random.Random(11).randbytes(123_457))
    up = compose_stack.upload(first, f"/live/exact-{way}/")
    assert up.dest == f"hdfs://namenode:8020/live/exact-{way}/one.bin"
    assert (up.bytes, up.checksum) == (123_457, hashlib.sha256(first.read_bytes()).hexdigest())
    assert _hdfs_sha256(compose_stack, f"/live/exact-{way}/one.bin") == up.checksum
    assert _hdfs_listing(compose_stack, f"/live/exact-{way}") == {"one.bin": ("-rw-r--r--", "2", "hadoop")}

    with pytest.raises(OpsError, match="exists"):
        compose_stack.upload(first, f"/live/exact-{way}/one.bin")
    second = tmp_path / "two.bin"
    second.write_bytes(random.Random(12).randbytes(5_000))
    again = compose_stack.upload(second, f"/live/exact-{way}/one.bin", force=True)
    assert again.bytes == 5_000
    assert _hdfs_sha256(compose_stack, f"/live/exact-{way}/one.bin") == hashlib.sha256(second.read_bytes()).hexdigest()
    assert list(_hdfs_listing(compose_stack, f"/live/exact-{way}")) == ["one.bin"]

    with pytest.raises(OpsError, match=r"'\.\.' is not allowed"):
        compose_stack.upload(first, f"/live/exact-{way}/../escape.bin")
    assert "escape.bin" not in _hdfs_listing(compose_stack, "/live")


FOREIGN = """
# A plain PySpark program that knows nothing about HyperSpark.
from operator import add
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("plain-wordcount").getOrCreate()
words = spark.sparkContext.parallelize(["a b c", "b c", "c"] * 100, 4).flatMap(str.split)
print("COUNTS", sorted(words.map(lambda w: (w, 1)).reduceByKey(add).collect()), flush=True)
spark.stop()
"""


@live
def test_plain_pyspark_script_runs_against_the_master(compose_stack, tmp_path):
    script = tmp_path / "wordcount.py"
    script.write_text(FOREIGN)
    run = compose_stack.spark_submit(script)
    assert run.exit_code == 0, run.output[-3000:]
    assert "COUNTS [('a', 100), ('b', 200), ('c', 300)]" in run.stdout
    completed = compose_stack.status().completed_apps
    assert any(app.name == "plain-wordcount" for app in completed)


@live
def test_small_tuning_run_writes_summary_into_hdfs(compose_stack):
    spec = REPO / "examples" / "breast_cancer_sklearn.yaml"
    csv = REPO / "examples" / "data" / "breast_cancer.csv"
    if not spec.exists() or not csv.exists():
        pytest.skip(f"{spec.relative_to(REPO)} or its data is not in this checkout")
    up = compose_stack.upload(csv, "/data/breast_cancer.csv", force=True)
    lines: list[str] = []
    result = compose_stack.submit(
        spec, run_id="live-tune", on_line=lines.append,
        overrides=[f"dataset.uri={up.dest}", "output=hdfs://namenode:8020/hyperspark/runs"],
    )
    assert result.exit_code == 0, "\n".join(lines[-40:])
    assert result.output_uri == "hdfs://namenode:8020/hyperspark/runs/live-tune"
    summary = json.loads(compose_stack.read_text(result.output_uri + "/summary.json"))
    assert summary["run_id"] == "live-tune"
    assert set(summary["best_params"]) == {"n_estimators", "max_depth", "min_samples_leaf"}
    assert 0.5 < summary["cv_score"] <= 1.0
    trials = [json.loads(ln) for ln in compose_stack.read_text(result.output_uri + "/trials.jsonl").splitlines()]
    assert len(trials) == 12  # 2 x 3 x 2 grid
    assert any(ln.startswith("HYPERSPARK_PROGRESS ") for ln in lines)


def _published(container, port: int) -> int:
    container.reload()
    (binding,) = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
    assert binding["HostIp"] == "127.0.0.1"
    return int(binding["HostPort"])


def _get_json(url: str):
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


HISTORY_PROBE = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("hs-history-probe").getOrCreate()
print("SUM", spark.sparkContext.parallelize(range(100), 2).sum(), spark.sparkContext.applicationId, flush=True)
spark.stop()
"""


@live
def test_history_server_lists_a_finished_application(compose_stack, tmp_path):
    """Event logs are on by default (hdfs:///spark-events) and the history server beside the master
    lists an application once it has finished. The submit goes through the existing path
    (ComposeTarget.spark_submit: spark-submit in the tools container, inside the network)."""
    script = tmp_path / "history_probe.py"
    script.write_text(HISTORY_PROBE)
    run = compose_stack.spark_submit(script)
    assert run.exit_code == 0, run.output[-3000:]
    _, total, app_id = next(ln for ln in run.stdout.splitlines() if ln.startswith("SUM ")).split()
    assert total == "4950"

    (history,) = compose_stack.containers("spark-history")
    url = f"http://127.0.0.1:{_published(history, 18080)}/api/v1/applications"

    def listed():
        apps = {a["id"]: a for a in _get_json(url)}
        app = apps.get(app_id)
        return app if app and app["attempts"][0]["completed"] else None

    app = _wait(listed, 120, f"{app_id} to be listed as completed by the history server")
    assert app["name"] == "hs-history-probe"
    assert app["attempts"][0]["sparkUser"] == "spark"  # the HDFS service user
    nn = compose_stack.containers("namenode")[0]
    logs = compose_stack.exec(nn, ["hdfs", "dfs", "-ls", "/spark-events"]).stdout
    assert app_id in logs


@live
def test_security_defaults_hold_in_the_running_containers(compose_stack):
    for c in compose_stack.containers():
        c.reload()
        config, host = c.attrs["Config"], c.attrs["HostConfig"]
        name = c.labels[LABEL_SERVICE]
        assert config["User"] and config["User"].split(":")[0] not in ("0", "root"), name
        assert "no-new-privileges:true" in (host.get("SecurityOpt") or []), name
        assert host.get("CapDrop") == ["ALL"] and not host.get("CapAdd"), name
        assert not host.get("Privileged"), name
        env = dict(e.split("=", 1) for e in config["Env"])
        assert "SPARK_RPC_AUTHENTICATION_SECRET" not in env, f"{name}: the secret is an env var"
        status = compose_stack.exec(c, ["sh", "-c", "grep -E '^(Uid|NoNewPrivs|CapEff)' /proc/1/status"]).stdout
        fields = {k: v.split() for k, v in (ln.split(":", 1) for ln in status.splitlines())}
        assert fields["Uid"][0] != "0" and fields["NoNewPrivs"] == ["1"] and fields["CapEff"] == ["0000000000000000"], \
            f"{name}: {fields}"
        if name in ("spark-master", "spark-worker", "tools", "spark-connect"):
            assert env["SPARK_RPC_AUTHENTICATION_SECRET_FILE"] == "/run/secrets/spark-rpc-secret"
            check = compose_stack.exec(c, ["sh", "-c", "test -s /run/secrets/spark-rpc-secret && "
                                                      "grep -c '^spark.authenticate true' /opt/hyperspark/conf/spark-defaults.conf"])
            assert check.exit_code == 0 and check.stdout.strip() == "1", name


@live
def test_hdfs_permissions_are_enforced_and_the_service_user_owns_its_dirs(compose_stack):
    nn = compose_stack.containers("namenode")[0]
    listing = compose_stack.exec(nn, ["hdfs", "dfs", "-ls", "-d", "/spark-events", "/hyperspark", "/data"]).stdout
    modes = {ln.split()[-1]: (ln.split()[0], ln.split()[2]) for ln in listing.splitlines() if ln.startswith("d")}
    assert modes["/spark-events"] == ("drwxrwxrwt", "spark")
    assert modes["/hyperspark"] == ("drwxr-xr-x", "spark")
    denied = compose_stack.exec(nn, ["hdfs", "dfs", "-mkdir", "/not-for-spark"], env={"HADOOP_USER_NAME": "spark"})
    assert denied.exit_code != 0 and "Permission denied" in denied.output
    allowed = compose_stack.exec(nn, ["hdfs", "dfs", "-mkdir", "-p", "/hyperspark/perm-probe"],
                                 env={"HADOOP_USER_NAME": "spark"})
    assert allowed.exit_code == 0, allowed.output


@live
def test_mlflow_tracking_profile_runs_a_real_server_on_loopback(compose_stack):
    """`--profile tracking`: the mlflow service builds locally, gets healthy, answers on 127.0.0.1
    and from inside the network (http://mlflow:5000), and keeps its sqlite store on a volume."""
    import subprocess

    from hyperspark.ops.targets.compose import compose_command

    env = {**os.environ, "HS_SPARK_SECRET": "unused-by-mlflow", "DOCKER_BUILDKIT": "0"}  # secret-scan: ignore
    argv = compose_command() + ["-p", compose_stack.project, "-f", str(REPO / "compose.yaml"), "--profile", "tracking",
                                "up", "-d", "--wait", "--wait-timeout", "300", "--no-deps", "--build", "mlflow"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (mlflow,) = compose_stack.containers("mlflow")
    base = f"http://127.0.0.1:{_published(mlflow, 5000)}"
    import urllib.request

    assert urllib.request.urlopen(base + "/health", timeout=10).read() == b"OK"
    tools = compose_stack.containers("tools")[0]
    create = ("import json, urllib.request as u; r = u.Request('http://mlflow:5000/api/2.0/mlflow/experiments/create',"
              " data=json.dumps({'name': 'live-probe'}).encode(), headers={'Content-Type': 'application/json'});"
              " print(json.loads(u.urlopen(r, timeout=10).read())['experiment_id'])")
    made = compose_stack.exec(tools, ["python", "-c", create])
    assert made.exit_code == 0, made.output
    found = _get_json(base + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=live-probe")
    assert found["experiment"]["experiment_id"] == made.stdout.strip()
    mlflow.reload()
    assert mlflow.attrs["Config"]["User"] == "10001"
    assert any(m["Destination"] == "/mlflow" and m["Type"] == "volume" for m in mlflow.attrs["Mounts"])


@live
def test_driver_mode_passes_spark_submit_arguments_as_the_k8s_driver_job_gives_them(docker_engine):
    """k8s/driver's Job gives the container `--conf ... tune.py SPEC` (no command): the entrypoint
    must run them with spark-submit against SPARK_MASTER_URL; history mode needs its log dir."""
    import docker

    client = docker.from_env()
    image = os.environ.get("HS_SPARK_IMAGE", "hyperspark/spark:0.1.0")
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{image} is not built (the compose tests build it)")
    # default bridge network: the container's own hostname must resolve for Spark; --version
    # connects nowhere
    out = client.containers.run(image, ["--conf", "spark.ui.enabled=false", "--version"], remove=True,
                                environment={"SPARK_MODE": "driver", "SPARK_MASTER_URL": "local[1]"},
                                stdout=True, stderr=True)
    assert b"version 4." in out
    with pytest.raises(docker.errors.ContainerError) as err:
        client.containers.run(image, [], remove=True, environment={"SPARK_MODE": "history"}, network_disabled=True)
    assert err.value.exit_status == 64 and b"SPARK_EVENTLOG_DIR" in err.value.stderr


def _cluster_id(target) -> str:
    nn = target.containers("namenode")[0]
    out = target.exec(nn, ["cat", "/data/namenode/current/VERSION"]).stdout
    return next(ln.split("=", 1)[1] for ln in out.splitlines() if ln.startswith("clusterID="))


@live
def test_namenode_restart_keeps_data_and_cluster_id(compose_stack, tmp_path):
    data = tmp_path / "keep.bin"
    data.write_bytes(random.Random(9).randbytes(300_000))
    up = compose_stack.upload(data, "/live/keep.bin")
    before = _cluster_id(compose_stack)

    nn = compose_stack.containers("namenode")[0]
    nn.restart(timeout=30)
    _wait(lambda: _health(nn) == "healthy", 300, "the namenode to be healthy again")
    _wait(lambda: (s := compose_stack.status().storage) and s.live_datanodes == 2 and s.safemode is False,
          300, "2 live DataNodes and safe mode off after the restart")

    assert _cluster_id(compose_stack) == before == "CID-hyperspark"
    logs = compose_stack.logs("namenode")
    assert logs.count("formatting a new name dir") == 1  # only the very first start formatted
    assert "already formatted" in logs
    run = compose_stack.exec(compose_stack.containers("namenode")[0],
                             ["bash", "-c", f"hdfs dfs -cat {up.dest} | sha256sum"])
    assert run.stdout.split()[0] == hashlib.sha256(data.read_bytes()).hexdigest()


@live
def test_namenode_refuses_a_name_dir_of_another_cluster(compose_stack):
    """The entrypoint never reformats: a different pinned id on the same volume stops start-up."""
    import docker

    client = docker.from_env()
    nn = compose_stack.containers("namenode")[0]
    volume = next(m["Name"] for m in nn.attrs["Mounts"] if m["Destination"] == "/data/namenode")
    with pytest.raises(docker.errors.ContainerError) as err:
        client.containers.run(nn.image.id, ["namenode"], environment={"HDFS_CLUSTER_ID": "CID-other"},
                              volumes={volume: {"bind": "/data/namenode", "mode": "ro"}}, remove=True,
                              network_disabled=True)
    assert err.value.exit_status == 64
    assert b"refusing to start" in err.value.stderr
    assert _cluster_id(compose_stack) == "CID-hyperspark"


# -- pure parts (no engine needed) ------------------------------------------------------------
@pytest.mark.parametrize("uri, path", [
    ("hdfs://namenode:8020/data/x.csv", "/data/x.csv"),
    ("hdfs:///data/x.csv", "/data/x.csv"),
    ("/data/./x.csv", "/data/x.csv"),
    ("bench/x.csv", "/bench/x.csv"),
])
def test_hdfs_paths_are_normalised(uri, path):
    from hyperspark.ops.targets.compose import parse_hdfs_path

    assert parse_hdfs_path(uri) == path


@pytest.mark.parametrize("uri", ["s3://bucket/x", "file:///tmp/x", "hdfs://namenode:8020/", "/a/../../b"])
def test_non_hdfs_or_empty_paths_are_refused(uri):
    from hyperspark.ops.targets.compose import parse_hdfs_path

    with pytest.raises(OpsError):
        parse_hdfs_path(uri)


def test_settings_precedence_and_secret_kept_private(tmp_path, monkeypatch):
    from hyperspark.ops.targets.compose import ComposeTarget

    monkeypatch.delenv("HS_SPARK_SECRET", raising=False)
    monkeypatch.setenv("HS_MASTER_UI_PORT", "19555")
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    target = ComposeTarget(tmp_path / "state", project="hyperspark-unit", file=compose)
    assert target._settings()["HS_MASTER_UI_PORT"] == "19555"
    target.configure(ui_port=19556, hdfs=True)
    assert target._settings()["HS_MASTER_UI_PORT"] == "19556"
    with pytest.raises(OpsError, match="always runs HDFS"):
        target.configure(hdfs=False)
    with pytest.raises(OpsError, match="unknown setting"):
        target.configure(bogus=1)
    secret = target._env()["HS_SPARK_SECRET"]
    assert len(secret) == 64 and secret == target._env()["HS_SPARK_SECRET"]  # generated once, then kept
    kept = tmp_path / "state" / "spark-secret-hyperspark-unit"
    assert kept.stat().st_mode & 0o777 == 0o600
    (tmp_path / ".env").write_text("HS_SPARK_SECRET='from-dotenv'\n")  # secret-scan: ignore (a fake)
    assert target._env()["HS_SPARK_SECRET"] == "from-dotenv"


def test_bad_project_name_is_one_clear_error(tmp_path):
    from hyperspark.ops.targets.compose import ComposeTarget

    with pytest.raises(OpsError, match="compose project name"):
        ComposeTarget(tmp_path, project="Bad Name")


def test_spark_image_installs_every_runtime_dependency_at_the_constraints_pin():
    """The image pins its packages by hand (no constraints file inside the build): every runtime
    dependency of pyproject.toml must be there, at exactly the version constraints.txt pins."""
    import re
    import tomllib

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    dockerfile = (REPO / "docker" / "spark" / "Dockerfile").read_text()
    image = {norm(n): v for n, v in re.findall(r"\b([A-Za-z][\w.-]*)==(\d[\w.]*)", dockerfile)}
    pins = {norm(n): v for n, v in re.findall(r"(?m)^([A-Za-z][\w.-]*)==(\S+)$",
                                               (REPO / "constraints.txt").read_text())}
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {norm(re.match(r"[A-Za-z][\w.-]*", d).group(0)) for d in deps}
    assert not wanted - set(image), f"runtime dependencies missing from docker/spark/Dockerfile: {wanted - set(image)}"
    drift = {n: (v, pins[n]) for n, v in image.items() if n in pins and pins[n] != v}
    assert not drift, f"image pin != constraints.txt pin: {drift}"
