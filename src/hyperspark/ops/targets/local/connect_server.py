"""The local target's Spark Connect endpoint (``hyperspark up --connect``): a REAL Spark Connect server,
the one in the pyspark distribution, attached to the local cluster's master, on ``127.0.0.1:PORT``.

It is started the way ``$SPARK_HOME/sbin/start-connect-server.sh`` starts it (``spark-submit --class``
:data:`SERVER_CLASS`), but by :meth:`~hyperspark.ops.state.StateDir.spawn` like every other daemon of this
target: detached, pid in ``pids/connect.pid``, log in ``logs/connect.log``, stopped by ``down`` by that pid
with its process group (the script's own ``spark-daemon.sh`` would keep a second pid file and log). Its conf
is every local driver's (loopback, this interpreter on the executors, event logs for the history server;
see :meth:`LocalTarget.driver_conf`) plus the gRPC endpoint and dynamic allocation: a server lives as long
as the cluster, and idle executors go back so that submits and notebooks still get cores.

Ready = the port answers an HTTP/2 handshake (gRPC runs on HTTP/2): Spark Connect binds it only after its
SparkContext has registered with the master. ``status`` and ``doctor`` use the same probe; :func:`attach_lines`
are the lines a notebook needs to attach to the cluster (``hyperspark status`` prints them).

This module never imports the target: it works on any :class:`ConnectHost` (``LocalTarget`` is one).
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Protocol

from hyperspark.job.protocol import one_line

from hyperspark.ops.model import Check, CheckName, ConnectServerStatus, NoClusterError, OpsError
from hyperspark.ops.state import StateDir
from hyperspark.ops.targets.local.daemons import spark_home
from hyperspark.ops.targets.local.settings import HOST, PORT_LABELS
from hyperspark.ops.util import secrets
from hyperspark.ops.util.net import port_free
from hyperspark.ops.util.poll import poll_until

NAME = "connect"  # pids/connect.pid, logs/connect.log
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
APP_NAME = "Spark Connect server"  # what start-connect-server.sh names it (the master's application list)
START_TIMEOUT = float(os.environ.get("HYPERSPARK_CONNECT_START_TIMEOUT", "180"))
#: the server gives an executor back to the cluster after it was idle this long (Spark's default: 60s)
IDLE_TIMEOUT_ENV = "HYPERSPARK_CONNECT_IDLE_TIMEOUT"
#: the HTTP/2 client preface and an empty SETTINGS frame (RFC 9113, 3.4): a gRPC server answers with its SETTINGS
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_H2_SETTINGS = 0x04


class ConnectHost(Protocol):
    """What the Connect server needs of its target."""

    name: str
    state: StateDir

    @property
    def master_url(self) -> str: ...

    def master_pid(self) -> int | None: ...

    def env(self) -> dict[str, str]: ...

    def driver_conf(self, conf: dict[str, str]) -> dict[str, str]: ...


def url(port: int) -> str:
    return f"sc://{HOST}:{port}"


def answers_grpc(port: int, host: str = HOST, timeout: float = 2.0) -> bool:
    """True when ``host:port`` speaks HTTP/2 as a gRPC server does: it answers the client preface with a
    SETTINGS frame. A plain TCP listener (or an HTTP/1 server) does not."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(_H2_PREFACE)
            head = b""
            while len(head) < 9:
                chunk = s.recv(9 - len(head))
                if not chunk:
                    return False
                head += chunk
    except OSError:
        return False
    return head[3] == _H2_SETTINGS and not head[4] & 0x1  # a SETTINGS frame of its own, not an ACK


def status(host: ConnectHost, port: int) -> ConnectServerStatus:
    """Up = the recorded pid runs (and is ours) and its port answers gRPC."""
    pid = host.state.owned_alive(NAME)
    if pid is None or not answers_grpc(port):
        return ConnectServerStatus(running=False, port=port, pid=pid)
    return ConnectServerStatus(running=True, port=port, pid=pid, url=url(port))


def check_distribution(home: Path) -> None:
    """One line when this Spark has no Connect server (pyspark < 3.4, or a distribution without its jar)."""
    if not any((home / "jars").glob("spark-connect_*.jar")):
        raise OpsError(f"the Spark at {home} has no Spark Connect server (no jars/spark-connect_*.jar): "
                       "install pyspark>=4 or point SPARK_HOME at a Spark 4 distribution")


def server_argv(host: ConnectHost, port: int) -> list[str]:
    """``spark-submit --class SparkConnectServer`` (what start-connect-server.sh runs) on the cluster's master.
    Confs that may carry a secret go in a private properties file, as for every driver
    (:func:`hyperspark.ops.targets.local.spark_submit.argv`); :func:`start` removes it once the JVM read it."""
    from hyperspark.ops.targets.local.warm import dynamic_allocation_conf

    idle = os.environ.get(IDLE_TIMEOUT_ENV, "60s")
    conf = host.driver_conf({
        "spark.connect.grpc.binding.address": HOST,
        "spark.connect.grpc.binding.port": str(port),
        **dynamic_allocation_conf(),
        "spark.dynamicAllocation.executorIdleTimeout": idle,
        # a long-lived server keeps its sessions' plans, so their shuffles are never garbage collected: without
        # this, an executor that once held shuffle data would stay with the server for good (and a notebook
        # driver or a submit beside it would wait for cores forever)
        "spark.dynamicAllocation.shuffleTracking.timeout": idle,
    })
    plain, hidden = secrets.split_conf(conf)
    argv = [str(spark_home() / "bin" / "spark-submit"), "--master", host.master_url, "--class", SERVER_CLASS,
            "--name", APP_NAME]
    if hidden:
        folder = Path(tempfile.mkdtemp(prefix="hyperspark-conf-"))  # 0700
        argv += [secrets.PROPERTIES_FLAG, str(secrets.secret_properties_file(folder, hidden))]
    for k, v in plain.items():
        argv += ["--conf", f"{k}={v}"]
    return argv


def start(host: ConnectHost, port: int) -> ConnectServerStatus:
    """Start the Connect server (or keep the one that runs on ``port``); block until it answers gRPC.
    A busy port, a Spark without the server, or a server that exits or does not answer: one line."""
    if host.master_pid() is None:
        raise NoClusterError(host.name)
    current = status(host, port)
    if current.running:
        return current
    host.state.stop(NAME)  # a half-started leftover, by its recorded pid
    if not port_free(port, HOST):
        raise OpsError(f"port {port} ({PORT_LABELS['connect_port']}) is in use: stop what holds it or choose "
                       "another with --connect-port")
    check_distribution(spark_home())
    argv = server_argv(host, port)
    pid = host.state.spawn(NAME, argv, host.env())

    def done() -> bool:
        return answers_grpc(port) or host.state.owned_alive(NAME) is None

    try:
        poll_until(done, START_TIMEOUT, interval=0.5)
    finally:
        secrets.remove_properties(argv)  # its JVM read the secret confs at its start
    if not answers_grpc(port):
        alive = host.state.owned_alive(NAME) is not None
        host.state.stop(NAME)
        log = host.state.log_file(NAME)
        why = f"no gRPC answer on {HOST}:{port} within {START_TIMEOUT:.0f} s" if alive else f"it exited: {_why(log)}"
        raise OpsError(f"the Spark Connect server (pid {pid}) did not come up ({why}); see {log}")
    return status(host, port)


def stop(host: ConnectHost) -> bool:
    """Stop the Connect server (its JVM and the Python workers it started, one process group) by its pid."""
    return host.state.stop(NAME)


def check(host: ConnectHost, port: int, started: bool) -> Check:
    """``doctor``: a server that ``up --connect`` started must answer gRPC; without one, whether its port is free."""
    st = status(host, port)
    if st.running:
        return Check(CheckName.CONNECT, True, f"{st.url} answers gRPC (pid {st.pid})")
    if started:
        return Check(CheckName.CONNECT, False, f"the Spark Connect server on {url(port)} does not answer "
                     f"(see `hyperspark logs connect`; `hyperspark up --connect` restarts it)")
    word = "free" if port_free(port, HOST) else "in use by another process"
    return Check(CheckName.CONNECT, True, f"not started (`hyperspark up --connect`); port {port} {word}")


def attach_lines(master_url: str, python: str, connect_port: int | None,
                 conf_dir: Path | None = None) -> dict[str, str]:
    """The exact Python lines a notebook needs to attach to this cluster: ``classic`` (a driver in the
    notebook: executors must run ``python``, so PYSPARK_PYTHON is set before the session, as a plain Python
    driver sends PYSPARK_PYTHON, not the builder's conf) and, with a Connect server, ``connect``.
    ``conf_dir``: the cluster's client conf dir (:mod:`.auth`), whose spark-defaults.conf carries the RPC
    secret: the lines name the directory, never the secret."""
    py = json.dumps(python)
    auth = [f"os.environ[\"SPARK_CONF_DIR\"] = {json.dumps(str(conf_dir))}  # the cluster's secret "
            "(spark.authenticate); from a shell: export SPARK_CONF_DIR=that dir"] if conf_dir else []
    lines = {"classic": "\n".join([
        f"import os; os.environ[\"PYSPARK_PYTHON\"] = {py}",
        *auth,
        "from pyspark.sql import SparkSession",
        f"spark = (SparkSession.builder.master({json.dumps(master_url)})",
        f"         .config(\"spark.pyspark.python\", {py})",
        f"         .config(\"spark.driver.host\", \"{HOST}\").config(\"spark.driver.bindAddress\", \"{HOST}\")",
        "         .getOrCreate())",
    ])}
    if connect_port is not None:
        lines["connect"] = "\n".join([
            "from pyspark.sql import SparkSession",
            f"spark = SparkSession.builder.remote(\"{url(connect_port)}\").getOrCreate()",
        ])
    return lines


def _why(log: Path) -> str:
    """The line of a failed start that says why: the first error or exception, else the last line."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    start = max((i for i, ln in enumerate(lines) if ln.startswith("=== ")), default=-1)  # this start's lines
    lines = lines[start + 1:]
    for ln in lines:
        if ln.startswith(("Error", "Exception")) or "Exception:" in ln or " ERROR " in ln:
            return one_line(ln)
    return one_line(lines[-1]) if lines else "no output"
