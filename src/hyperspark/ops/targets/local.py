"""LocalTarget: a REAL Spark standalone master and N workers as local JVMs.

The pyspark wheel carries ``bin/spark-class`` but no ``sbin/start-*.sh``
scripts, so the daemons are started directly
(``spark-class org.apache.spark.deploy.master.Master ...``), detached, with
their pids, logs, work dirs and generated properties files in the state dir.
Every address is 127.0.0.1; the master's REST submission server is off.

Storage is a real HDFS (``HdfsCluster``) when ``HADOOP_HOME`` is set or
``up --hdfs`` asked for it, otherwise ``<state_dir>/storage``.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import urllib.request
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import Field
from hyperspark.ops import spark_api
from hyperspark.ops.hdfs import jmx as nn_jmx
from hyperspark.ops.model import (
    Check,
    CheckName,
    ClusterStatus,
    NoClusterError,
    OpsError,
    StorageStatus,
    UploadResult,
)
from pydantic_settings import SettingsConfigDict

from hyperspark.ops.settings import TargetSettings
from hyperspark.ops.targets.base import Target
from hyperspark.ops.targets.driver import DriverOutput, DriverRequest
from hyperspark.ops.util.files import write_atomic
from hyperspark.ops.util.java import check_java, java_binary
from hyperspark.ops.util.net import port_free, port_open
from hyperspark.ops.util.poll import poll_until
from hyperspark.ops.util.proc import own_session_dying_with_parent, pid_alive, terminate

HOST = "127.0.0.1"
MIN_JAVA = 17  # Spark 4.x runs on Java 17 and 21

class LocalSettings(TargetSettings):
    """Ports of the local cluster (state.json keys; env ``HYPERSPARK_*``) and whether HDFS runs."""

    model_config = SettingsConfigDict(env_prefix="HYPERSPARK_LOCAL_")

    master_port: int = Field(7077, ge=1, le=65535, validation_alias="HYPERSPARK_MASTER_PORT")
    ui_port: int = Field(8080, ge=1, le=65535, validation_alias="HYPERSPARK_MASTER_UI_PORT")
    worker_ui_port: int = Field(8081, ge=1, le=65535, validation_alias="HYPERSPARK_WORKER_UI_PORT")
    driver_ui_port: int = Field(4040, ge=1, le=65535, validation_alias="HYPERSPARK_DRIVER_UI_PORT")
    hdfs_rpc_port: int = Field(8020, ge=1, le=65535, validation_alias="HYPERSPARK_HDFS_RPC_PORT")
    hdfs_http_port: int = Field(9870, ge=1, le=65535, validation_alias="HYPERSPARK_HDFS_HTTP_PORT")
    hdfs_dn_port: int = Field(9864, ge=1, le=65535, validation_alias="HYPERSPARK_HDFS_DATANODE_PORT")
    history_ui_port: int = Field(18080, ge=1, le=65535, validation_alias="HYPERSPARK_HISTORY_UI_PORT")
    mlflow_port: int = Field(5000, ge=1, le=65535, validation_alias="HYPERSPARK_MLFLOW_PORT")
    #: also run an MLflow tracking server (`up --mlflow`); explicit only
    mlflow: bool | None = None
    #: run a real HDFS (explicit only: else as saved, else when HADOOP_HOME is set; see _hdfs_wanted)
    hdfs: bool | None = None


PORT_KEYS = ("master_port", "ui_port", "worker_ui_port", "driver_ui_port", "hdfs_rpc_port", "hdfs_http_port",
             "hdfs_dn_port", "history_ui_port", "mlflow_port")
HISTORY_CLASS = "org.apache.spark.deploy.history.HistoryServer"
PORT_LABELS = {
    "master_port": "master RPC",
    "ui_port": "master UI",
    "history_ui_port": "history server UI",
    "mlflow_port": "MLflow tracking server",
    "worker_ui_port": "worker UI",
    "hdfs_rpc_port": "HDFS NameNode RPC",
    "hdfs_http_port": "HDFS NameNode HTTP",
}

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
START_TIMEOUT = float(os.environ.get("HYPERSPARK_START_TIMEOUT", "120"))
#: JVM flags for the master, worker and history server JVMs (SPARK_DAEMON_JAVA_OPTS; a user's own
#: SPARK_DAEMON_JAVA_OPTS come after them and win). These daemons mostly wait on sockets, so the C1
#: compiler alone is enough and C2 compiling only burns start-up CPU; one serial GC thread per small
#: daemon heap likewise. Executors are launched by the worker with the application's options, not these.
DAEMON_JVM_FLAGS = os.environ.get("HYPERSPARK_DAEMON_JVM_FLAGS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
#: how long `scale` waits for a decommissioned worker's running trials before stopping it anyway
DECOMMISSION_TIMEOUT = float(os.environ.get("HYPERSPARK_DECOMMISSION_TIMEOUT", "300"))


def spark_home() -> Path:
    """SPARK_HOME if set, else the installed pyspark package (found without importing it)."""
    env = os.environ.get("SPARK_HOME")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise OpsError("pyspark is not installed in this Python: pip install pyspark")
    return Path(spec.origin).parent


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class LocalTarget(Target):
    name = "local"
    max_workers = 16

    settings_model = LocalSettings

    def saved_settings(self) -> dict:
        saved = dict(self._saved())
        saved.pop("hdfs", None)  # saved as the HDFS cluster's description, not the flag
        return saved

    def _saved(self) -> dict:
        return self.state.read_json("state.json", {}) or {}

    def _setting(self, key: str) -> Any:
        """Explicit override > saved state (a cluster that ran) > environment > default."""
        return getattr(self.settings(), key)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self._setting('master_port')}"

    @property
    def master_ui(self) -> str:
        return f"http://{HOST}:{self._setting('ui_port')}"

    @property
    def history_ui(self) -> str:
        return f"http://{HOST}:{self._setting('history_ui_port')}"

    @property
    def events_dir(self) -> Path:
        """Spark event logs of every run (on by default): the history server reads them."""
        return self.state.root / "spark-events"

    def _worker_ui(self, index: int) -> int:
        return int(self._setting("worker_ui_port")) + index - 1

    def _hdfs_wanted(self) -> bool:
        if "hdfs" in self._overrides:
            return bool(self._overrides["hdfs"])
        saved = self._saved()
        if "hdfs" in saved:
            return saved["hdfs"] is not None
        return bool(os.environ.get("HADOOP_HOME"))

    # -- processes --------------------------------------------------------
    def _env(self) -> dict[str, str]:
        """Environment for daemons and the driver: loopback only, one Python everywhere."""
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(spark_home()),
            SPARK_LOCAL_IP=HOST,
            SPARK_MASTER_HOST=HOST,
            SPARK_LOG_DIR=str(self.state.logs_dir),
            SPARK_PID_DIR=str(self.state.pids_dir),
            SPARK_WORKER_DIR=str(self.state.work_dir),
            SPARK_LOCAL_DIRS=str(self.state.work_dir / "tmp"),
            PYSPARK_PYTHON=sys.executable,
            PYSPARK_DRIVER_PYTHON=sys.executable,
            PYTHONWARNINGS="ignore::FutureWarning",
            SPARK_DAEMON_JAVA_OPTS=f"{DAEMON_JVM_FLAGS} {os.environ.get('SPARK_DAEMON_JAVA_OPTS', '')}".strip(),
        )
        java = java_binary()
        if java and "JAVA_HOME" not in env:
            env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
        return env

    def _write_conf(self) -> Path:
        """The properties file every daemon gets; it also puts the state dir in their command line."""
        self.state.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.state.work_dir / "tmp").mkdir(parents=True, exist_ok=True)
        conf = self.state.conf_dir / "spark-daemons.conf"
        props = {
            "spark.master.rest.enabled": "false",
            "spark.ui.reverseProxy": "false",
            "spark.worker.cleanup.enabled": "false",
            "spark.local.dir": str(self.state.work_dir / "tmp"),
            # SIGPWR decommissions a worker (scale-down): its executors take no new task, finish the
            # running ones, then exit; see _decommission
            "spark.decommission.enabled": "true",
        }
        return write_atomic(conf, "".join(f"{k} {v}\n" for k, v in props.items()))

    def _spark_class(self) -> str:
        return str(spark_home() / "bin" / "spark-class")

    def _master_pid(self) -> int | None:
        return self.state.owned_alive("master")

    def _worker_indices(self) -> list[int]:
        """Indices of our worker processes that still run."""
        out = []
        for name in self.state.recorded():
            if name.startswith("worker-") and self.state.owned_alive(name):
                out.append(int(name.split("-", 1)[1]))
        return sorted(out)

    def _check_ports(self, ports: dict[int, str]) -> None:
        for port, label in ports.items():
            if not port_free(port, HOST):
                raise OpsError(f"port {port} ({label}) is in use: stop what holds it or choose another port")

    def _died(self, name: str) -> str | None:
        pid = self.state.read_pid(name)
        if pid is not None and not pid_alive(pid):
            log = self.state.log_file(name)
            return f"{name} exited during start-up; last log line: {_tail(log) or '(empty)'} (log: {log})"
        return None

    def _spawn_master(self, conf: Path) -> None:
        argv = [
            self._spark_class(), MASTER_CLASS,
            "--host", HOST,
            "--port", str(self._setting("master_port")),
            "--webui-port", str(self._setting("ui_port")),
            "--properties-file", str(conf),
        ]
        self.state.spawn("master", argv, self._env())

    def _wait_master_rpc(self) -> None:
        """Until the master accepts connections on its RPC port (it binds that before its UI).

        Workers started earlier would fail to register and retry only after 5-15 s (Spark's fuzzed
        registration interval), so they start the moment the port opens: their JVMs then boot while
        the master finishes its own start-up.
        """
        port = int(self._setting("master_port"))

        def ready() -> bool:
            reason = self._died("master")
            if reason:
                raise OpsError(reason)
            return port_open(port, HOST)

        spark_api.wait_for(ready, START_TIMEOUT, f"the Spark master RPC port {HOST}:{port}", interval=0.2)

    def _start_history(self) -> None:
        """The Spark history server beside the master: a finished search's stages and executors stay
        inspectable (``/api/v1/applications``) after its driver is gone."""
        self.events_dir.mkdir(parents=True, exist_ok=True)
        conf = self.state.conf_dir / "spark-history.conf"
        props = {
            "spark.history.fs.logDirectory": self.events_dir.as_uri(),
            "spark.history.ui.port": str(self._setting("history_ui_port")),
            "spark.history.fs.update.interval": "2s",
        }
        write_atomic(conf, "".join(f"{k} {v}\n" for k, v in props.items()))
        self.state.spawn("history", [self._spark_class(), HISTORY_CLASS, "--properties-file", str(conf)],
                         self._env())

    @property
    def mlflow_url(self) -> str:
        return f"http://{HOST}:{self._setting('mlflow_port')}"

    def _start_mlflow(self) -> None:
        """A real ``mlflow server`` managed like the other daemons (pid, log, port check, down): sqlite and
        artifacts under the state dir. Specs then use ``tracking.mlflow.uri`` = ``status``'s mlflow URL."""
        import importlib.util

        if importlib.util.find_spec("mlflow") is None:
            raise OpsError("up --mlflow needs mlflow in this environment: pip install 'hyperspark[tracking]'")
        port = int(self._setting("mlflow_port"))
        self._check_ports({port: PORT_LABELS["mlflow_port"]})
        root = self.state.root / "mlflow"
        (root / "artifacts").mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(port),
                "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination", str(root / "artifacts"), "--workers", "1"]
        self.state.spawn("mlflow", argv, self._env(), cwd=root)

        def ready() -> bool:
            reason = self._died("mlflow")
            if reason:
                raise OpsError(reason)
            try:
                with urllib.request.urlopen(f"{self.mlflow_url}/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        spark_api.wait_for(ready, 180, f"the MLflow server at {self.mlflow_url}")

    def _start_worker(self, index: int, cores: int, memory: str, conf: Path) -> None:
        name = f"worker-{index}"
        work = self.state.work_dir / name
        work.mkdir(parents=True, exist_ok=True)
        argv = [
            self._spark_class(), WORKER_CLASS, self.master_url,
            "--host", HOST,
            "--cores", str(cores),
            "--memory", memory,
            "--webui-port", str(self._worker_ui(index)),
            "--work-dir", str(work),
            "--properties-file", str(conf),
        ]
        self.state.spawn(name, argv, self._env())

    def _any_worker_died(self, names: list[str]) -> str | None:
        for name in names:
            reason = self._died(name)
            if reason:
                return reason
        return None

    # -- HDFS -------------------------------------------------------------
    def _hdfs_cluster(self, hadoop_home: str | None = None):
        """The HdfsCluster described by saved state (or about to be started); None without HDFS."""
        saved = self._saved().get("hdfs")
        if saved is None and hadoop_home is None:
            return None
        from hyperspark.ops.hdfs.cluster import HdfsCluster

        cfg = saved or {}
        return HdfsCluster(
            hadoop_home=cfg.get("hadoop_home", hadoop_home),
            base_dir=self.state.root / "hdfs",
            host=HOST,
            rpc_port=int(cfg.get("rpc_port", self._setting("hdfs_rpc_port"))),
            http_port=int(cfg.get("http_port", self._setting("hdfs_http_port"))),
            datanodes=int(cfg.get("datanodes", os.environ.get("HYPERSPARK_HDFS_DATANODES", 1))),
            replication=int(cfg.get("replication", os.environ.get("HYPERSPARK_HDFS_REPLICATION", 1))),
            dn_base_port=int(cfg.get("dn_base_port", self._setting("hdfs_dn_port"))),
        )

    def _start_hdfs(self) -> dict:
        home = os.environ.get("HADOOP_HOME")
        if not home:
            from hyperspark.ops.hdfs.dist import ensure_hadoop_home

            home = str(ensure_hadoop_home())
        cluster = self._hdfs_cluster(hadoop_home=home)
        assert cluster is not None
        if not cluster.is_running():
            cluster.start()
        return {
            "hadoop_home": home,
            "rpc_port": cluster.rpc_port,
            "http_port": cluster.http_port,
            "datanodes": cluster.datanodes,
            "replication": cluster.replication,
            "dn_base_port": cluster.dn_base_port,
        }

    def _storage(self):
        hdfs = self._hdfs_cluster()
        if hdfs is not None:
            if not hdfs.is_running():
                raise NoClusterError(self.name)
            from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage

            return WebHdfsStorage(hdfs.webhdfs_url, hdfs.fs_uri, replication=hdfs.replication)
        from hyperspark.ops.state import state_write
        from hyperspark.ops.storage import LocalDirStorage

        with state_write(self.state.storage_dir):
            self.state.storage_dir.mkdir(parents=True, exist_ok=True)
        return LocalDirStorage(self.state.storage_dir)

    def _storage_status(self) -> StorageStatus:
        hdfs = self._hdfs_cluster()
        if hdfs is not None:
            if not hdfs.is_running():
                return StorageStatus(kind="hdfs", uri=hdfs.fs_uri, detail="HDFS is not running")
            return hdfs.status()
        d = self.state.storage_dir
        return StorageStatus(
            kind="dir", uri=d.as_uri(), writable=d.is_dir() and os.access(d, os.W_OK), detail=str(d)
        )

    # -- lifecycle ---------------------------------------------------------
    def up(self, workers: int, worker_cores: int = 1, worker_memory: str = "1g") -> ClusterStatus:
        self.check_workers(workers)
        if self._master_pid() is not None:
            self._reject_changed_ports()
            if self._hdfs_wanted() and self._saved().get("hdfs") is None:
                self._save(hdfs=self._start_hdfs())
            if self._overrides.get("mlflow") and not self.state.owned_alive("mlflow"):
                self._start_mlflow()
            if not self.state.owned_alive("history"):  # a cluster started before history servers were
                self._check_ports({int(self._setting("history_ui_port")): PORT_LABELS["history_ui_port"]})
                self._start_history()
            return self._scale_to(workers, worker_cores, worker_memory)
        check_java()
        self._stop_leftovers()
        ports = {int(self._setting(k)): PORT_LABELS[k] for k in ("master_port", "ui_port", "history_ui_port")}
        ports.update({self._worker_ui(i): f"worker-{i} UI" for i in range(1, workers + 1)})
        hdfs_wanted = self._hdfs_wanted()
        self._check_ports(ports)  # HdfsCluster.start checks its own ports
        settings = {k: int(self._setting(k)) for k in PORT_KEYS}
        from hyperspark.ops.state import state_write

        with state_write(self.state.storage_dir):  # a full or read-only state dir: one line, nothing started
            self.state.root.mkdir(parents=True, exist_ok=True)
            if not hdfs_wanted:
                self.state.storage_dir.mkdir(parents=True, exist_ok=True)
        self._save(
            **settings,
            python=sys.executable,
            spark_home=str(spark_home()),
            worker_cores=worker_cores,
            worker_memory=worker_memory,
            hdfs=self._saved().get("hdfs") if hdfs_wanted else None,
        )
        hdfs_start: _Background | None = None
        try:
            conf = self._write_conf()
            self._spawn_master(conf)
            if hdfs_wanted:  # NameNode and DataNodes come up beside the Spark daemons
                hdfs_start = _Background(self._start_hdfs, "hdfs-start")
            self._wait_master_rpc()
            status = self._scale_to(workers, worker_cores, worker_memory)  # waits for N ALIVE per /json
            # the history server is not needed for `up` to be done: it finishes starting in the background
            # (status lists it from its pid at once; it answers a few seconds later)
            self._start_history()
            if hdfs_start is not None:
                self._save(hdfs=hdfs_start.result())
                hdfs_start = None
                status = self.status()  # storage: the HDFS that is now ready
            status.urls["history"] = self.history_ui
            if self._overrides.get("mlflow"):
                self._start_mlflow()
                status.urls["mlflow"] = self.mlflow_url
            return status
        except BaseException:
            # a half-started cluster is worse than none: stop what we started, by pid
            if hdfs_start is not None:
                with contextlib.suppress(BaseException):
                    self._save(hdfs=hdfs_start.result())
            self._stop_spark()
            hdfs = self._hdfs_cluster()
            if hdfs is not None:
                hdfs.stop()
            raise

    def _save(self, **values: Any) -> None:
        saved = self._saved()
        saved.update(values)
        self.state.write_json("state.json", saved)

    def _reject_changed_ports(self) -> None:
        saved = self._saved()
        for key, value in self._overrides.items():
            if key in PORT_KEYS and key in saved and int(saved[key]) != int(value):
                raise OpsError(
                    f"the running cluster uses {key.replace('_', ' ')} {saved[key]}, not {value}: "
                    "run `hyperspark down` first"
                )

    def _stop_leftovers(self) -> None:
        """Workers whose master died: stop them (by pid) before a fresh start."""
        for name in list(self.state.recorded()):
            if name.startswith("worker-") or name == "master":
                self.state.stop(name)

    def scale(self, workers: int) -> ClusterStatus:
        self.check_workers(workers)
        if self._master_pid() is None:
            raise NoClusterError(self.name)
        saved = self._saved()
        return self._scale_to(workers, int(saved.get("worker_cores", 1)), str(saved.get("worker_memory", "1g")))

    def _scale_to(self, workers: int, cores: int, memory: str) -> ClusterStatus:
        current = self._worker_indices()
        if len(current) < workers:
            new = [i for i in range(1, workers + len(current) + 1) if i not in current][: workers - len(current)]
            self._check_ports({self._worker_ui(i): f"worker-{i} UI" for i in new})
            conf = self._write_conf()
            for i in new:
                self._start_worker(i, cores, memory, conf)
            names = ["master"] + [f"worker-{i}" for i in new]
            spark_api.wait_alive_workers(
                self.master_ui, workers, START_TIMEOUT, lambda: self._any_worker_died(names)
            )
        elif len(current) > workers:
            leaving = self._removal_order(current)[: len(current) - workers]
            for i in leaving:
                self._decommission(i)
            self._wait_drained(leaving, DECOMMISSION_TIMEOUT)
            for i in leaving:
                self.state.stop(f"worker-{i}")
            spark_api.wait_alive_workers(self.master_ui, workers, START_TIMEOUT)
        else:
            spark_api.wait_alive_workers(self.master_ui, workers, START_TIMEOUT)
        return self.status()

    def _decommission(self, index: int) -> None:
        """SIGPWR: the worker tells the master, running trials finish there, no new one starts there."""
        pid = self.state.owned_alive(f"worker-{index}")
        if pid is not None and self._saved_decommission():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGPWR)

    def _saved_decommission(self) -> bool:
        """Workers started with decommissioning on (older clusters would die of SIGPWR: stop them as before)."""
        conf = self.state.conf_dir / "spark-daemons.conf"
        try:
            return "spark.decommission.enabled true" in conf.read_text()
        except OSError:
            return False

    def _wait_drained(self, indices: list[int], timeout: float) -> None:
        """Until the leaving workers run no executor (their trials finished), or ``timeout``: then they
        are stopped anyway, and Spark reruns what was still running there on the workers that stay.

        Watched by process (executor JVMs whose working dir lies in the worker's work dir), not by the
        master's JSON: the master keeps counting a DECOMMISSIONED worker's cores as used after its
        executors have exited.
        """
        import psutil

        dirs = [str(self.state.work_dir / f"worker-{i}") + os.sep for i in indices]

        def drained() -> bool:
            for p in psutil.process_iter(["cmdline"]):
                try:
                    if "CoarseGrainedExecutorBackend" in " ".join(p.info["cmdline"] or []) and \
                            any((p.cwd() + os.sep).startswith(d) for d in dirs):
                        return False
                except psutil.Error:
                    continue
            return True

        poll_until(drained, timeout, interval=0.5)

    def _removal_order(self, current: list[int]) -> list[int]:
        """Idle workers first (no cores in use per the master), highest index first within each group."""
        by_port = {self._worker_ui(i): i for i in current}
        busy = {by_port.get(spark_api.worker_ui_port(w) or -1)
                for w in spark_api.busy_workers(spark_api.master_json(self.master_ui))}
        return spark_api.idle_first(current, lambda i: i in busy, lambda i: i)

    def _stop_spark(self) -> list[str]:
        stopped = []
        names = [n for n in self.state.recorded() if n.startswith("worker-")]
        for name in sorted(names, key=lambda n: int(n.split("-", 1)[1])):
            if self.state.stop(name):
                stopped.append(name)
        if self.state.stop("master"):
            stopped.append("master")
        if self.state.stop("history"):
            stopped.append("history")
        if self.state.stop("mlflow"):
            stopped.append("mlflow")
        return stopped

    def down(self, purge: bool = False) -> list[str]:
        from hyperspark.ops import warm

        stopped = ["warm"] if warm.stop(self) else []  # the warm driver first: it is a client of the master
        stopped += self._stop_spark()
        hdfs = self._hdfs_cluster()
        if hdfs is not None:
            stopped += hdfs.stop()
        if purge:
            for sub in ("storage", "work", "logs", "conf", "hdfs", "pids", "warm"):
                shutil.rmtree(self.state.root / sub, ignore_errors=True)
            for f in ("state.json", "runs.json"):
                (self.state.root / f).unlink(missing_ok=True)
        return stopped

    def status(self) -> ClusterStatus:
        if self._master_pid() is None:
            raise NoClusterError(self.name)
        data = spark_api.master_json(self.master_ui)
        if data is None:
            status = ClusterStatus(
                target=self.name, master_url=self.master_url, master_ui=self.master_ui, master_state="DOWN"
            )
        else:
            status = spark_api.parse_master(data, self.name, self.master_url, self.master_ui)
        pids = {self._worker_ui(i): self.state.read_pid(f"worker-{i}") for i in self._worker_indices()}
        for w in status.workers:
            port = spark_api.worker_ui_port(w)
            if w.state == "ALIVE" and port in pids:
                w.pid = pids[port]
        for i in self._worker_indices():
            status.urls[f"worker-{i}"] = f"http://{HOST}:{self._worker_ui(i)}"
        if self.state.owned_alive("history"):
            status.urls["history"] = self.history_ui
        if self.state.owned_alive("mlflow"):
            status.urls["mlflow"] = self.mlflow_url
        status.storage = self._storage_status()
        from hyperspark.ops import warm

        status.warm_driver = warm.status(self)
        hdfs = self._saved().get("hdfs")
        if hdfs:
            status.urls["namenode"] = f"http://{HOST}:{hdfs['http_port']}"
        return status

    # -- data and jobs -------------------------------------------------------
    def upload(self, src: Path, dest: str | None = None, force: bool = False) -> UploadResult:
        src = Path(src)
        if not src.is_file():
            raise OpsError(f"no such file: {src}")
        return self._storage().upload(src, dest, force)

    def read_text(self, uri: str) -> str:
        from hyperspark.ops.storage import storage_for_uri

        hdfs = self._hdfs_cluster()
        webhdfs = hdfs.webhdfs_url if hdfs is not None and uri.startswith(hdfs.fs_uri) else None
        return storage_for_uri(uri, webhdfs_url=webhdfs).read_text(uri)

    def before_submit(self, request: DriverRequest) -> None:
        if self._master_pid() is None:
            raise NoClusterError(self.name)

    def launch_driver(self, request: DriverRequest, output: DriverOutput) -> int:
        from hyperspark.ops import warm

        with _sigterm_as_interrupt():
            code = warm.launch(self, request, output)  # None: no warm driver (or --cold): a fresh one
            if code is not None:
                return code
            argv = self.submit_argv(request)
            output.note("$ " + " ".join(argv))
            return _run_driver(argv, self._env(), output)

    def submit_argv(self, request: DriverRequest) -> list[str]:
        """The spark-submit command line: driver on loopback, this interpreter everywhere."""
        return self.spark_submit_argv(request.conf, tune_script(), request.job_args(str(request.spec_path)))

    def spark_submit_argv(self, conf: dict[str, str], script: Path, args: list[str]) -> list[str]:
        """``spark-submit`` of ``script`` with every driver's conf (+ ``conf``): a submit or the warm driver."""
        confs = {
            "spark.driver.host": HOST,
            "spark.driver.bindAddress": HOST,
            "spark.ui.port": str(self._setting("driver_ui_port")),
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
            "spark.local.dir": str(self.state.work_dir / "tmp"),
            # executors of a decommissioned worker (scale-down) finish their trials and exit
            "spark.decommission.enabled": "true",
            # executors run this interpreter, which has hyperspark.job: fork workers with the libraries loaded
            "spark.python.daemon.module": "hyperspark.job.daemon",
            # event logs on by default, for the history server (`status` lists its URL)
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": self.events_dir.as_uri(),
        }
        self.events_dir.mkdir(parents=True, exist_ok=True)
        hdfs = self._hdfs_cluster()
        if hdfs is not None:
            confs.update(hdfs.spark_conf())
        confs.update(conf)
        argv = [str(spark_home() / "bin" / "spark-submit"), "--master", self.master_url]
        for k, v in confs.items():
            argv += ["--conf", f"{k}={v}"]
        return argv + [str(script), *args]

    def logs(self, component: str) -> str:
        if component == "driver":
            path = self.state.log_file("driver")
        elif component in ("master", "history", "mlflow", "warm") or re.fullmatch(r"worker-\d+", component):
            path = self.state.log_file(component)
        else:
            path = self._hdfs_log(component)
        if path is None or not path.exists():
            raise OpsError(f"no log for {component!r}: choose one of {', '.join(self.components())}")
        return path.read_text(errors="replace")

    def _hdfs_log(self, component: str) -> Path | None:
        hdfs = self._hdfs_cluster()
        if hdfs is None or component not in hdfs.components():
            return None
        return hdfs.log_path(component)

    def components(self) -> list[str]:
        names = ["master"]
        if self.state.logs_dir.is_dir():
            names += sorted(
                (p.stem for p in self.state.logs_dir.glob("worker-*.log")), key=lambda n: int(n.split("-")[1])
            )
        names.append("driver")
        for daemon in ("history", "mlflow", "warm"):
            if self.state.log_file(daemon).exists():
                names.append(daemon)
        hdfs = self._hdfs_cluster()
        if hdfs is not None:
            names += hdfs.components()
        return names

    # -- doctor --------------------------------------------------------------
    def doctor(self) -> list[Check]:
        checks = [_check(lambda: (True, check_java()), CheckName.JAVA)]
        checks.append(self._check_python())
        running = self._master_pid() is not None
        checks.append(self._check_ports_ours(running))
        if running:
            checks.append(self._check_workers())
        else:
            checks.append(Check(CheckName.WORKERS, False, "no cluster is running: run `hyperspark up` first"))
        checks += self._check_storage()
        return checks

    def _check_python(self) -> Check:
        mine = f"{sys.version_info.major}.{sys.version_info.minor}"
        workers_py = self._saved().get("python") or sys.executable
        try:
            out = subprocess.run(
                [workers_py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30,
            )
            theirs = out.stdout.strip()
        except OSError as exc:
            return Check(CheckName.PYTHON, False, f"workers' Python {workers_py} does not run: {exc}")
        ok = theirs == mine
        return Check(CheckName.PYTHON, ok, f"driver {mine} ({sys.executable}), workers {theirs or '?'} ({workers_py})")

    def _check_ports_ours(self, running: bool) -> Check:
        keys = ["master_port", "ui_port"]
        ports = {int(self._setting(k)): PORT_LABELS[k] for k in keys}
        bad = []
        for port, label in ports.items():
            if not port_free(port, HOST) and not running:
                bad.append(f"{port} ({label}) in use by another process")
        if bad:
            return Check(CheckName.PORTS, False, "; ".join(bad))
        word = "ours" if running else "free"
        return Check(CheckName.PORTS, True, ", ".join(f"{p} ({l}) {word}" for p, l in ports.items()))

    def _check_workers(self) -> Check:
        expected = len(self._worker_indices())
        data = spark_api.master_json(self.master_ui)
        if data is None:
            return Check(CheckName.WORKERS, False, f"master UI {self.master_ui} does not answer")
        alive = spark_api.alive_count(data)
        ok = alive == expected and expected > 0
        return Check(CheckName.WORKERS, ok, f"{alive} ALIVE registered, {expected} started by us")

    def _check_storage(self) -> list[Check]:
        st = self._storage_status()
        if st.kind == "dir":
            d = self.state.storage_dir
            ok = _dir_writable(d)
            return [Check(CheckName.STORAGE, ok, f"{d} {'writable' if ok else 'not writable'}")]
        return [Check(CheckName.STORAGE, bool(st.writable), f"HDFS {st.uri} {st.detail}".strip()),
                *nn_jmx.hdfs_checks(st)]


class _Background:
    """Run ``fn`` in a thread now; ``result()`` joins it and returns its value or raises its exception."""

    def __init__(self, fn: Callable[[], Any], name: str) -> None:
        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _check(fn, name: str) -> Check:
    try:
        ok, detail = fn()
    except OpsError as exc:
        return Check(name, False, str(exc))
    return Check(name, ok, detail)


def _dir_writable(d: Path) -> bool:
    """Really write a file: os.access lies on read-only mounts."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / f".doctor-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
        return True
    except OSError:
        return False


def tune_script() -> Path:
    """The job's spark-submit entry point ``jobs/tune.py`` (checkout, or the copy a wheel ships)."""
    from hyperspark.ops import resources

    try:
        import hyperspark.job  # noqa: F401 - tune.py imports it; executors need it installed
    except ImportError as exc:
        raise OpsError(f"the tuning job package is not installed: {exc}") from exc
    path = resources.find("jobs/tune.py")
    if path is None:
        raise OpsError("the job entry point jobs/tune.py is missing")
    return path


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While a driver runs, SIGTERM to the CLI stops the driver too (as Ctrl-C does), not just us."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_driver(argv: list[str], env: dict[str, str], output: DriverOutput) -> int:
    """Run spark-submit in its own process group, every line to ``output``; return its exit code."""
    # own process group: on Ctrl-C we stop the JVM AND the Python driver it spawned; and the JVM dies
    # with us (kill -9 of the CLI), so no orphan driver goes on writing a run that is then resumed
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        stdin=subprocess.DEVNULL, errors="replace", preexec_fn=own_session_dying_with_parent(),
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            output(line)
        return proc.wait()
    except BaseException:
        # Ctrl-C or a failing sink: never leave a driver behind
        terminate(proc.pid, timeout=20, group=True, child=proc)
        raise
