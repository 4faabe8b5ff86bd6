"""Start and stop a REAL Spark Connect server from the pyspark distribution, as plain functions.

    server = start(port, master="local[2]", dirs=Path("/tmp/x"))   # blocks until it answers on 127.0.0.1:port
    ...  SparkSession.builder.remote(server.url).getOrCreate()
    stop(server)                                                    # by its pid; True when it was running

It runs ``$SPARK_HOME/sbin/start-connect-server.sh`` with ``SPARK_HOME`` = the installed pyspark package,
``SPARK_PID_DIR``/``SPARK_LOG_DIR`` under ``dirs`` (so nothing lands in the package or /tmp), the gRPC
endpoint bound to 127.0.0.1, and THIS interpreter (or ``python``) for its Python workers: trials run
there, so it must have HyperSpark's dependencies and the model libraries. The script's ``spark-daemon.sh``
writes the pid file; :func:`stop` reads it and ends that process group (the JVM and the Python workers it
started), never anything by name. Ready = the port accepts a connection (the server binds it only once
its SparkContext is up); a server that exits first is one ``OpsError`` line quoting its log.

Used by the tests' session fixture (``tests/connect``) and the benchmark (``benchmarks/connect.py``).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hyperspark.ops.model import OpsError
from hyperspark.ops.targets.local.daemons import spark_home

HOST = "127.0.0.1"
CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@dataclass(frozen=True)
class ConnectServer:
    """A started server: where it listens, its pid, and its files."""

    port: int
    pid: int
    master: str
    pid_file: Path
    log_dir: Path

    @property
    def url(self) -> str:
        return f"sc://{HOST}:{self.port}"


def start(port: int, master: str = "local[2]", dirs: str | Path = ".", *, python: str | None = None,
          conf: dict[str, str] | None = None, timeout: float = 180.0) -> ConnectServer:
    """Start a Connect server on ``127.0.0.1:port`` against ``master``; block until it accepts
    connections (one OpsError line when it exits or does not answer within ``timeout`` s)."""
    dirs = Path(dirs).resolve()
    pid_dir, log_dir = dirs / "pids", dirs / "logs"
    for d in (pid_dir, log_dir, dirs / "local"):
        d.mkdir(parents=True, exist_ok=True)
    if _answers(port):
        raise OpsError(f"port {port} on {HOST} is in use: choose another for the Spark Connect server")
    home = spark_home()
    python = python or sys.executable
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_PID_DIR": str(pid_dir), "SPARK_LOG_DIR": str(log_dir),
           "SPARK_IDENT_STRING": f"hyperspark-{port}", "SPARK_LOCAL_IP": HOST, "PYSPARK_PYTHON": python,
           "PYSPARK_DRIVER_PYTHON": python}
    env.pop("SPARK_NO_DAEMONIZE", None)  # spark-daemon.sh must put it in the background
    settings = {"spark.connect.grpc.binding.address": HOST, "spark.connect.grpc.binding.port": str(port),
                "spark.driver.host": HOST, "spark.driver.bindAddress": HOST, "spark.ui.enabled": "false",
                "spark.pyspark.python": python, "spark.local.dir": str(dirs / "local"),
                "spark.python.worker.reuse": "true", **(conf or {})}
    argv = [str(home / "sbin" / "start-connect-server.sh"), "--master", master]
    for k, v in settings.items():
        argv += ["--conf", f"{k}={v}"]
    # its own session: the JVM and its Python workers form one process group that stop() ends
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, start_new_session=True)
    pid_file = _pid_file(pid_dir, port)
    pid = _read_pid(pid_file)
    if done.returncode != 0 or pid is None:
        raise OpsError(f"start-connect-server.sh failed (exit {done.returncode}): "
                       f"{(done.stderr or done.stdout).strip().splitlines()[-1:] or 'no output'}")
    server = ConnectServer(port, pid, master, pid_file, log_dir)
    deadline = time.monotonic() + timeout
    while not _answers(port):
        if not _alive(pid):
            stop(server)
            raise OpsError(f"the Spark Connect server exited before it answered on {HOST}:{port}: "
                           f"{_last_error(log_dir)}")
        if time.monotonic() > deadline:
            stop(server)
            raise OpsError(f"the Spark Connect server did not answer on {HOST}:{port} within {timeout:.0f} s; "
                           f"see {log_dir}")
        time.sleep(0.5)
    return server


def stop(server: ConnectServer, timeout: float = 30.0) -> bool:
    """End the server's process group by its recorded pid (TERM, then KILL); remove the pid file."""
    pid = server.pid
    if not _alive(pid):
        server.pid_file.unlink(missing_ok=True)
        return False
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        pgid = None
    own_group = pgid is not None and pgid != os.getpgid(0)
    _signal(pid, pgid if own_group else None, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        _signal(pid, pgid if own_group else None, signal.SIGKILL)
    server.pid_file.unlink(missing_ok=True)
    return True


def _signal(pid: int, pgid: int | None, sig: int) -> None:
    try:
        if pgid is not None:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _pid_file(pid_dir: Path, port: int) -> Path:
    return pid_dir / f"spark-hyperspark-{port}-{CLASS}-1.pid"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _last_error(log_dir: Path) -> str:
    lines = [ln.strip() for f in sorted(log_dir.glob("*.out")) for ln in f.read_text(errors="replace").splitlines()]
    errors = [ln for ln in lines if "Exception" in ln or " ERROR " in ln or ln.startswith("Error")]
    return (errors or lines or ["no log"])[0][:300]
