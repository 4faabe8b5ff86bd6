"""The local cluster's long-lived processes: the Spark master, workers and history server (JVMs started with
``spark-class``, since the pyspark wheel has no ``sbin/start-*.sh``) and the optional MLflow server.

Each is detached, with its pid, log, work dir and generated properties file (0600: it holds the RPC
secret, :mod:`.auth`) in the state dir; every address is 127.0.0.1 and the master's REST submission
server is off. Scale-down decommissions workers
(SIGPWR) so running trials finish first, idle workers before busy ones.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
import urllib.request
from pathlib import Path
from typing import Any, Callable

from hyperspark.ops import gpus, spark_api
from hyperspark.ops.model import OpsError
from hyperspark.ops.state import StateDir
import hyperspark.ops.targets.local.auth as auth
from hyperspark.ops.targets.local.settings import HOST, PORT_LABELS, LocalSettings
from hyperspark.ops.util.files import write_atomic
import hyperspark.ops.targets.local.jvm as jvm
from hyperspark.ops.util.java import java_binary
from hyperspark.ops.util.net import port_free, port_open
from hyperspark.ops.util.poll import poll_until
from hyperspark.ops.util.proc import pid_alive

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
HISTORY_CLASS = "org.apache.spark.deploy.history.HistoryServer"
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


class Daemons:
    """The master, workers, history and MLflow servers of one state dir, on the ports of ``settings()``."""

    def __init__(self, state: StateDir, settings: Callable[[], LocalSettings]) -> None:
        self.state = state
        self._settings = settings

    def _setting(self, key: str) -> Any:
        return getattr(self._settings(), key)

    # -- addresses ------------------------------------------------------------
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
    def mlflow_url(self) -> str:
        return f"http://{HOST}:{self._setting('mlflow_port')}"

    @property
    def events_dir(self) -> Path:
        """Spark event logs of every run (on by default): the history server reads them."""
        return self.state.root / "spark-events"

    def worker_ui(self, index: int) -> int:
        return int(self._setting("worker_ui_port")) + index - 1

    @property
    def gpu_script(self) -> Path:
        """The GPU discovery script every worker runs at start (when the cluster has GPUs)."""
        return self.state.conf_dir / "gpu-discovery.sh"

    def gpus_per_worker(self) -> int:
        return self._settings().gpu_plan()[0]

    # -- processes ------------------------------------------------------------
    def env(self) -> dict[str, str]:
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
            SPARK_DAEMON_JAVA_OPTS=" ".join(filter(None, (DAEMON_JVM_FLAGS, jvm.archive_flags(spark_home(), java_binary()),
                                                          os.environ.get("SPARK_DAEMON_JAVA_OPTS", "")))),
        )
        java = java_binary()
        if java and "JAVA_HOME" not in env:
            env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
        return env

    def write_conf(self) -> Path:
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
            # running ones, then exit; see decommission
            "spark.decommission.enabled": "true",
            **auth.daemon_conf(self.state),  # the RPC secret: this file is 0600 (see auth)
        }
        per_worker, fixed = self._settings().gpu_plan()
        if per_worker:  # workers advertise GPUs: the discovery script beside this file (the master ignores both)
            gpus.write_discovery_script(self.gpu_script, fixed, per_worker)
            props.update(gpus.worker_conf(per_worker, self.gpu_script))
        return write_atomic(conf, "".join(f"{k} {v}\n" for k, v in props.items()), mode=0o600)

    def check_gpus(self, indices: list[int]) -> None:
        """Run the GPU discovery as each new worker will, before starting any (see gpus.check_workers)."""
        per_worker, fixed = self._settings().gpu_plan()
        gpus.check_workers(per_worker, fixed, indices, self.env())

    def _spark_class(self) -> str:
        return str(spark_home() / "bin" / "spark-class")

    def master_pid(self) -> int | None:
        return self.state.owned_alive("master")

    def worker_indices(self) -> list[int]:
        """Indices of our worker processes that still run."""
        out = []
        for name in self.state.recorded():
            if name.startswith("worker-") and self.state.owned_alive(name):
                out.append(int(name.split("-", 1)[1]))
        return sorted(out)

    def check_ports(self, ports: dict[int, str]) -> None:
        for port, label in ports.items():
            if not port_free(port, HOST):
                raise OpsError(f"port {port} ({label}) is in use: stop what holds it or choose another port")

    def died(self, name: str) -> str | None:
        pid = self.state.read_pid(name)
        if pid is not None and not pid_alive(pid):
            log = self.state.log_file(name)
            return f"{name} exited during start-up; last log line: {_tail(log) or '(empty)'} (log: {log})"
        return None

    def _any_died(self, names: list[str]) -> str | None:
        for name in names:
            reason = self.died(name)
            if reason:
                return reason
        return None

    # -- the master and the servers beside it ----------------------------------
    def spawn_master(self, conf: Path) -> None:
        argv = [
            self._spark_class(), MASTER_CLASS,
            "--host", HOST,
            "--port", str(self._setting("master_port")),
            "--webui-port", str(self._setting("ui_port")),
            "--properties-file", str(conf),
        ]
        self.state.spawn("master", argv, self.env())

    def wait_master_rpc(self) -> None:
        """Until the master accepts connections on its RPC port (it binds that before its UI).

        Workers started earlier would fail to register and retry only after 5-15 s (Spark's fuzzed
        registration interval), so they start the moment the port opens: their JVMs then boot while
        the master finishes its own start-up.
        """
        port = int(self._setting("master_port"))

        def ready() -> bool:
            reason = self.died("master")
            if reason:
                raise OpsError(reason)
            return port_open(port, HOST)

        spark_api.wait_for(ready, START_TIMEOUT, f"the Spark master RPC port {HOST}:{port}", interval=0.2)

    def start_history(self) -> None:
        """The Spark history server beside the master: a finished search's stages and executors stay
        inspectable (``/api/v1/applications``) after its driver is gone."""
        self.events_dir.mkdir(parents=True, exist_ok=True)
        conf = self.state.conf_dir / "spark-history.conf"
        props = {
            "spark.history.fs.logDirectory": self.events_dir.as_uri(),
            "spark.history.ui.port": str(self._setting("history_ui_port")),
            "spark.history.fs.update.interval": "2s",
            **auth.daemon_conf(self.state),
        }
        write_atomic(conf, "".join(f"{k} {v}\n" for k, v in props.items()), mode=0o600)
        self.state.spawn("history", [self._spark_class(), HISTORY_CLASS, "--properties-file", str(conf)],
                         self.env())

    def start_mlflow(self) -> None:
        """A real ``mlflow server`` managed like the other daemons (pid, log, port check, down): sqlite and
        artifacts under the state dir. Specs then use ``tracking.mlflow.uri`` = ``status``'s mlflow URL."""
        if importlib.util.find_spec("mlflow") is None:
            raise OpsError("up --mlflow needs mlflow in this environment: pip install 'hyperspark[tracking]'")
        port = int(self._setting("mlflow_port"))
        self.check_ports({port: PORT_LABELS["mlflow_port"]})
        root = self.state.root / "mlflow"
        (root / "artifacts").mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(port),
                "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination", str(root / "artifacts"), "--workers", "1"]
        self.state.spawn("mlflow", argv, self.env(), cwd=root)

        def ready() -> bool:
            reason = self.died("mlflow")
            if reason:
                raise OpsError(reason)
            try:
                with urllib.request.urlopen(f"{self.mlflow_url}/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        spark_api.wait_for(ready, 180, f"the MLflow server at {self.mlflow_url}")

    # -- workers --------------------------------------------------------------
    def start_worker(self, index: int, cores: int, memory: str, conf: Path) -> None:
        name = f"worker-{index}"
        work = self.state.work_dir / name
        work.mkdir(parents=True, exist_ok=True)
        argv = [
            self._spark_class(), WORKER_CLASS, self.master_url,
            "--host", HOST,
            "--cores", str(cores),
            "--memory", memory,
            "--webui-port", str(self.worker_ui(index)),
            "--work-dir", str(work),
            "--properties-file", str(conf),
        ]
        # which worker of this machine runs the GPU discovery script (it takes that worker's GPUs)
        self.state.spawn(name, argv, {**self.env(), gpus.WORKER_ENV: str(index)})

    def scale_to(self, workers: int, cores: int, memory: str) -> None:
        """Start or decommission workers until ``workers`` run; block until the master shows that many ALIVE."""
        current = self.worker_indices()
        if len(current) < workers:
            new = [i for i in range(1, workers + len(current) + 1) if i not in current][: workers - len(current)]
            self.check_ports({self.worker_ui(i): f"worker-{i} UI" for i in new})
            self.check_gpus(new)
            conf = self.write_conf()
            for i in new:
                self.start_worker(i, cores, memory, conf)
            names = ["master"] + [f"worker-{i}" for i in new]
            spark_api.wait_alive_workers(self.master_ui, workers, START_TIMEOUT, lambda: self._any_died(names))
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
        by_port = {self.worker_ui(i): i for i in current}
        busy = {by_port.get(spark_api.worker_ui_port(w) or -1)
                for w in spark_api.busy_workers(spark_api.master_json(self.master_ui))}
        return spark_api.idle_first(current, lambda i: i in busy, lambda i: i)

    # -- stopping -------------------------------------------------------------
    def start_jvm_archive(self) -> None:
        """The class-data archive every later Spark JVM maps (made once per machine, in the background)."""
        jvm.start_dump(self.state, spark_home(), java_binary(), self.env())

    def stop_all(self) -> list[str]:
        """Stop workers, master, history and MLflow servers by their recorded pids; what was stopped."""
        stopped = []
        names = [n for n in self.state.recorded() if n.startswith("worker-")]
        for name in sorted(names, key=lambda n: int(n.split("-", 1)[1])):
            if self.state.stop(name):
                stopped.append(name)
        for name in ("master", "history", "mlflow", jvm.NAME):
            if self.state.stop(name):
                stopped.append(name)
        return stopped

    def stop_leftovers(self) -> None:
        """Workers whose master died: stop them (by pid) before a fresh start."""
        for name in list(self.state.recorded()):
            if name.startswith("worker-") or name == "master":
                self.state.stop(name)
