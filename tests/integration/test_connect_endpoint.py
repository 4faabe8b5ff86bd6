"""`hyperspark up --connect` on the local target: a REAL Spark Connect server (the pyspark distribution's) on
the cluster's master, its address in `status` (text and JSON) and `doctor`, stopped by `down` by its pid;
the lines `status` prints for a notebook, run as they are by a plain Python (a classic driver and a Connect
client); bad input (a busy port, a Spark without the server, a server that dies) as one line, exit 1.

The flow from `up` to `down` runs on a fresh one-worker cluster of this module (file order); the rest on the
session's cluster and its Connect server (``local_connect``).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from hyperspark.ops import spark_api
from hyperspark.ops.cli import cli
from hyperspark.ops.targets.local import connect_server
from hyperspark.ops.targets.local.daemons import spark_home
from hyperspark.ops.util.net import port_free
from hyperspark.ops.util.poll import poll_until
from hyperspark.ops.util.proc import pid_alive
from tests.integration.cluster_fixtures import cluster_ports, spark_missing
from tests.ports import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.spark]


def hs(target, *args: str):
    return CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(target.state.root), *args],
                              prog_name="hyperspark")


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A LocalTarget of this module on free ports, not started; downed (by pid) at the end."""
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    from hyperspark.ops.targets.local import LocalTarget

    ports = cluster_ports()
    target = LocalTarget(tmp_path_factory.mktemp("hs-connect"), hdfs=False, **ports)
    target.up_options = ["--master-port", str(ports["master_port"]), "--ui-port", str(ports["ui_port"]),
                         "--worker-ui-port", str(ports["worker_ui_port"]),
                         "--history-ui-port", str(ports["history_ui_port"]), "--workers", "1"]
    try:
        yield target
    finally:
        target.down()


def up(target, *args: str):
    """`hyperspark up` with the module cluster's free ports (the CLI's defaults are 7077, 8080...), 1 worker."""
    return hs(target, "up", *target.up_options, *args)


def _fake_spark_home(root: Path, connect_jar: str | None) -> Path:
    """A copy of the pyspark distribution (links) whose Spark Connect jar is missing (None) or ``connect_jar``."""
    real = spark_home()
    (root / "jars").mkdir(parents=True)
    (root / "bin").symlink_to(real / "bin")
    for jar in (real / "jars").iterdir():
        if not jar.name.startswith("spark-connect_"):
            (root / "jars" / jar.name).symlink_to(jar)
    if connect_jar is not None:
        (root / "jars" / "spark-connect_2.13-4.3.0.jar").write_text(connect_jar)
    return root


def test_a_busy_connect_port_is_one_line_and_nothing_starts(fresh):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = one_error_line(up(fresh, "--connect-port", str(port)))
    assert line == (f"Error: port {port} (Spark Connect gRPC) is in use: stop what holds it or choose another "
                    "port")
    assert fresh.master_pid() is None and not fresh.state.recorded()


def test_a_spark_without_a_connect_server_is_one_line(fresh, tmp_path, monkeypatch):
    home = _fake_spark_home(tmp_path / "spark", connect_jar=None)
    monkeypatch.setenv("SPARK_HOME", str(home))
    line = one_error_line(up(fresh, "--connect"))
    assert line == (f"Error: the Spark at {home} has no Spark Connect server (no jars/spark-connect_*.jar): "
                    "install pyspark>=4 or point SPARK_HOME at a Spark 4 distribution")
    assert fresh.master_pid() is None


def test_up_without_connect_has_no_server_and_doctor_says_so(fresh):
    result = up(fresh, "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["connect"]["running"] is False and "connect" not in status["urls"]
    assert set(status["attach"]) == {"classic"}
    doctor = json.loads(hs(fresh, "doctor", "--json").stdout)
    (check,) = [c for c in doctor if c["name"] == "spark connect"]
    assert check["ok"] is True and check["detail"].startswith("not started")


def test_a_connect_server_that_dies_at_start_is_one_line(fresh, tmp_path, monkeypatch):
    """A Spark whose Connect jar is broken: the real JVM exits at once, and `up` says why in one line."""
    monkeypatch.setenv("SPARK_HOME", str(_fake_spark_home(tmp_path / "spark", connect_jar="not a jar")))
    port = free_port()
    line = one_error_line(up(fresh, "--connect-port", str(port)))
    assert line.startswith("Error: the Spark Connect server (pid ") and "did not come up (it exited: " in line
    assert line.endswith(f"see {fresh.state.log_file('connect')}")
    assert fresh.state.owned_alive(connect_server.NAME) is None and port_free(port)
    assert fresh.master_pid() is not None  # the cluster that ran stays up


def test_up_connect_then_status_doctor_and_down(fresh):
    port = free_port()
    result = up(fresh, "--connect-port", str(port), "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    url = f"sc://127.0.0.1:{port}"
    pid = status["connect"]["pid"]
    assert status["connect"] == {"running": True, "port": port, "pid": pid, "url": url}
    assert pid == fresh.state.read_pid("connect") and pid_alive(pid)
    assert status["urls"]["connect"] == url
    assert f'SparkSession.builder.remote("{url}")' in status["attach"]["connect"]
    # the master's own view: the server is an application of this cluster
    apps = spark_api.master_json(fresh.master_ui, timeout=30)["activeapps"]
    assert [a["name"] for a in apps] == ["Spark Connect server"]
    assert fresh._saved()["connect_port"] == port
    text = hs(fresh, "status")
    assert text.exit_code == 0, text.output
    assert f"spark connect: up, pid {pid}, {url}" in text.output
    doctor = hs(fresh, "doctor", "--json")
    assert doctor.exit_code == 0, doctor.output
    (check,) = [c for c in json.loads(doctor.stdout) if c["name"] == "spark connect"]
    assert check == {"name": "spark connect", "ok": True, "detail": f"{url} answers gRPC (pid {pid})"}
    logs = hs(fresh, "logs", "connect", "-n", "0")  # its log, as the other daemons'
    assert logs.exit_code == 0 and "SparkConnectServer" in logs.output
    # another port while it runs: one line
    other = free_port()
    assert one_error_line(up(fresh, "--connect-port", str(other))) == (
        f"Error: the Spark Connect server runs on port {port}, not {other}: run `hyperspark down` first")
    down = hs(fresh, "down", "--json")
    assert down.exit_code == 0, down.output
    assert "connect" in json.loads(down.stdout)["stopped"]
    assert not pid_alive(pid) and port_free(port) and fresh.state.read_pid("connect") is None


def test_doctor_fails_when_the_server_it_started_is_gone(fresh):
    """A recorded server that does not answer (killed behind our back) is a failed check, exit 1."""
    fresh.state.write_pid("connect", 2 ** 22 + 7)  # a pid nothing runs as
    result = hs(fresh, "doctor")
    assert result.exit_code == 1
    assert "FAIL spark connect" in result.output and "does not answer" in result.output
    fresh.state.remove_pid("connect")


# -- on the session cluster ------------------------------------------------------------------


def _run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """A plain Python (no PYSPARK_PYTHON, no SPARK_HOME: a new notebook's environment) running ``code``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_", "SPARK_"))}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)


def test_status_prints_the_lines_a_notebook_runs_and_they_attach(local_cluster, local_connect, tmp_path):
    text = hs(local_cluster, "status")
    assert text.exit_code == 0, text.output
    attach = json.loads(hs(local_cluster, "status", "--json").stdout)["attach"]
    for kind in ("classic", "connect"):  # printed exactly, indented under a title
        assert "\n".join(f"    {ln}" for ln in attach[kind].splitlines()) in text.output
    assert f"SparkSession.builder.master(\"{local_cluster.master_url}\")" in attach["classic"]
    assert json.dumps(sys.executable) in attach["classic"]
    classic = _run_python(attach["classic"] + "\nimport sys\nprint('EXECUTORS', sorted(set(spark.sparkContext"
                          ".parallelize(range(4), 4).map(lambda _: sys.executable).collect())))\nspark.stop()",
                          tmp_path)
    assert classic.returncode == 0, classic.stderr[-3000:]
    assert f"EXECUTORS {[sys.executable]}" in classic.stdout  # the executors run the cluster's Python
    connect = _run_python(attach["connect"] + "\nprint('SUM', spark.range(10).selectExpr('sum(id)').first()[0])"
                          "\nspark.stop()", tmp_path)
    assert connect.returncode == 0, connect.stderr[-3000:]
    assert "SUM 45" in connect.stdout
    assert local_connect in attach["connect"]
    # the server gives its executors back once idle (here after 5 s), also those that held the query's
    # shuffle: a notebook driver or a submit beside it gets the cores again
    def cores_used() -> int:
        data = spark_api.master_json(local_cluster.master_ui, timeout=30) or {}
        return sum(w["coresused"] for w in data.get("workers", []) if w["state"] == "ALIVE")

    assert poll_until(lambda: cores_used() == 0, 120, interval=1.0), "the Connect server kept its executors"
