"""LocalTarget: a REAL Spark standalone master and N workers as local JVMs.

The pieces live beside this class, one idea each: the JVMs and their ports (:mod:`.daemons`), HDFS or a
storage directory (:mod:`.hdfs`), the cold driver's spark-submit (:mod:`.spark_submit`), the warm driver
(:mod:`.warm`), the Spark Connect server (:mod:`.connect_server`), readiness checks (:mod:`.doctor`) and the
settings (:mod:`.settings`). This class holds the lifecycle: what ``up``/``scale``/``down``/``status`` do in
which order, and what is saved in ``state.json``.

Storage is a real HDFS (``HdfsCluster``) when ``HADOOP_HOME`` is set or ``up --hdfs`` asked for it,
otherwise ``<state_dir>/storage``.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any

import hyperspark.ops.targets.local.connect_server as connect_server
import hyperspark.ops.targets.local.spark_submit as spark_submit
import hyperspark.ops.targets.local.warm as warm
import hyperspark.ops.targets.local.auth as auth
from hyperspark.job.protocol import EXECUTORS_HINT, EXPECTED_EXECUTORS
from hyperspark.ops import gpus, spark_api
import hyperspark.ops.targets.local.jvm as jvm
from hyperspark.ops.model import (Check, ClusterStatus, ConnectServerStatus, NoClusterError, OpsError, UploadResult,
                                  WarmDriverStatus)
from hyperspark.ops.state import state_write
from hyperspark.ops.targets.base import Target
from hyperspark.ops.targets.local.daemons import Daemons, spark_home
from hyperspark.ops.targets.local.doctor import (
    java_check,
    no_cluster_check,
    ports_check,
    python_check,
    storage_checks,
    workers_check,
)
from hyperspark.ops.targets.local.hdfs import LocalHdfs
from hyperspark.ops.targets.local.settings import GPU_KEYS, HOST, PORT_KEYS, PORT_LABELS, LocalSettings
from hyperspark.ops.targets.request import DriverOutput, DriverRequest
from hyperspark.ops.util.background import Background
from hyperspark.ops.util.java import check_java

#: daemons whose logs `logs` shows besides workers, the driver and HDFS
LOGGED_DAEMONS = ("history", "mlflow", "warm", "connect")


class LocalTarget(Target):
    name = "local"
    max_workers = 16
    settings_model = LocalSettings
    supports_warm = True

    def __init__(self, state_dir: Path, **settings: Any) -> None:
        super().__init__(state_dir, **settings)
        self.daemons = Daemons(self.state, self.settings)
        self.hdfs = LocalHdfs(self.state, self.settings, self.name)

    # -- settings and saved state --------------------------------------------
    def saved_settings(self) -> dict:
        saved = dict(self._saved())
        saved.pop("hdfs", None)  # saved as the HDFS cluster's description, not the flag
        return saved

    def _saved(self) -> dict:
        return self.state.read_json("state.json", {}) or {}

    def _save(self, **values: Any) -> None:
        saved = self._saved()
        saved.update(values)
        self.state.write_json("state.json", saved)

    def _setting(self, key: str) -> Any:
        """Explicit override > saved state (a cluster that ran) > environment > default."""
        return getattr(self.settings(), key)

    def _hdfs_wanted(self) -> bool:
        if "hdfs" in self._overrides:
            return bool(self._overrides["hdfs"])
        saved = self._saved()
        if "hdfs" in saved:
            return saved["hdfs"] is not None
        return bool(os.environ.get("HADOOP_HOME"))

    def _reject_changed_ports(self) -> None:
        """Ports and GPUs of a running cluster stay as started (its JVMs hold them)."""
        saved = self._saved()
        for key, value in self._overrides.items():
            if key in PORT_KEYS + GPU_KEYS and key in saved and str(saved[key] or "") != str(value or ""):
                now = saved[key] if saved[key] not in (None, "") else "none"
                raise OpsError(
                    f"the running cluster uses {key.replace('_', ' ')} {now}, not {value}: "
                    "run `hyperspark down` first"
                )

    # -- addresses and processes (see daemons) ------------------------------------
    @property
    def master_url(self) -> str:
        return self.daemons.master_url

    @property
    def master_ui(self) -> str:
        return self.daemons.master_ui

    @property
    def history_ui(self) -> str:
        return self.daemons.history_ui

    @property
    def mlflow_url(self) -> str:
        return self.daemons.mlflow_url

    @property
    def events_dir(self) -> Path:
        return self.daemons.events_dir

    def master_pid(self) -> int | None:
        return self.daemons.master_pid()

    def _worker_indices(self) -> list[int]:
        return self.daemons.worker_indices()

    def env(self) -> dict[str, str]:
        """Environment for daemons and the driver: loopback only, one Python everywhere."""
        return self.daemons.env()

    # -- lifecycle -------------------------------------------------------------
    def up(self, workers: int, worker_cores: int = 1, worker_memory: str = "1g") -> ClusterStatus:
        self.check_workers(workers)
        if self.master_pid() is not None:
            return self._up_running(workers, worker_cores, worker_memory)
        check_java()
        self._explicit_gpus()
        self.daemons.check_gpus(list(range(1, workers + 1)))  # no nvidia-smi, too few GPUs: one line, nothing started
        self.daemons.stop_leftovers()
        hdfs_wanted = self._hdfs_wanted()
        ports = {int(self._setting(k)): PORT_LABELS[k] for k in ("master_port", "ui_port", "history_ui_port")}
        ports.update({self.daemons.worker_ui(i): f"worker-{i} UI" for i in range(1, workers + 1)})
        if self._overrides.get("connect"):  # a busy port or a Spark without the server: one line, nothing started
            ports[int(self._setting("connect_port"))] = PORT_LABELS["connect_port"]
            connect_server.check_distribution(spark_home())
        self.daemons.check_ports(ports)  # HdfsCluster.start checks its own ports
        self._save_fresh_state(hdfs_wanted, worker_cores, worker_memory)
        return self._start(workers, worker_cores, worker_memory, hdfs_wanted)

    def _explicit_gpus(self) -> None:
        """A fresh cluster given either GPU setting takes both from what was given (addresses imply the
        count; a count alone means nvidia-smi), not half from a cluster that ran here before."""
        if not any(k in self._overrides for k in GPU_KEYS):
            return
        per_worker, fixed = gpus.plan(self._overrides.get("gpus_per_worker"), self._overrides.get("gpu_addresses"))
        self._overrides.update(gpus_per_worker=per_worker, gpu_addresses=",".join(fixed))

    def _up_running(self, workers: int, cores: int, memory: str) -> ClusterStatus:
        """``up`` on a running cluster: add what was asked for and is missing, then scale."""
        self._reject_changed_ports()
        if self._hdfs_wanted() and self.hdfs.saved() is None:
            self._save(hdfs=self.hdfs.start())
        if self._overrides.get("mlflow") and not self.state.owned_alive("mlflow"):
            self.daemons.start_mlflow()
        if self._overrides.get("connect"):
            self.start_connect()
        if not self.state.owned_alive("history"):  # a cluster started before history servers were
            self.daemons.check_ports({int(self._setting("history_ui_port")): PORT_LABELS["history_ui_port"]})
            self.daemons.start_history()
        return self._scale_to(workers, cores, memory)

    def _save_fresh_state(self, hdfs_wanted: bool, cores: int, memory: str) -> None:
        """``state.json`` of the cluster about to start (a full or read-only state dir: one line, nothing
        started)."""
        settings = {k: int(self._setting(k)) for k in PORT_KEYS}
        per_worker, fixed = self.settings().gpu_plan()  # `scale` adds workers with the same GPUs
        settings.update(gpus_per_worker=per_worker, gpu_addresses=",".join(fixed) or None)
        with state_write(self.state.storage_dir):
            self.state.root.mkdir(parents=True, exist_ok=True)
            if not hdfs_wanted:
                self.state.storage_dir.mkdir(parents=True, exist_ok=True)
        self._save(**settings, python=sys.executable, spark_home=str(spark_home()), worker_cores=cores,
                   worker_memory=memory, hdfs=self.hdfs.saved() if hdfs_wanted else None)

    def _start(self, workers: int, cores: int, memory: str, hdfs_wanted: bool) -> ClusterStatus:
        """Master, then workers the moment its RPC port opens (HDFS starting beside them), then the history
        server; a half-started cluster is worse than none, so any failure stops what was started, by pid."""
        hdfs_start: Background | None = None
        try:
            auth.create(self.state)  # a new RPC secret per fresh cluster, before any JVM reads it
            self.daemons.spawn_master(self.daemons.write_conf())
            if hdfs_wanted:  # NameNode and DataNodes come up beside the Spark daemons
                hdfs_start = Background(self.hdfs.start, "hdfs-start")
            self.daemons.wait_master_rpc()
            status = self._scale_to(workers, cores, memory)  # waits for N ALIVE per /json
            # the history server is not needed for `up` to be done: it finishes starting in the background
            # (status lists it from its pid at once; it answers a few seconds later)
            self.daemons.start_history()
            self.daemons.start_jvm_archive()  # once per machine: later JVMs start in about half the CPU
            if hdfs_start is not None:
                self._save(hdfs=hdfs_start.result())
                hdfs_start = None
                status = self.status()  # storage: the HDFS that is now ready
            status.urls["history"] = self.history_ui
            if self._overrides.get("mlflow"):
                self.daemons.start_mlflow()
                status.urls["mlflow"] = self.mlflow_url
            if self._overrides.get("connect"):
                self.start_connect()
                status = self.status()
            return status
        except BaseException:
            if hdfs_start is not None:
                with contextlib.suppress(BaseException):
                    self._save(hdfs=hdfs_start.result())
            self.daemons.stop_all()
            self.hdfs.stop()
            raise

    def scale(self, workers: int) -> ClusterStatus:
        self.check_workers(workers)
        if self.master_pid() is None:
            raise NoClusterError(self.name)
        saved = self._saved()
        return self._scale_to(workers, int(saved.get("worker_cores", 1)), str(saved.get("worker_memory", "1g")))

    def _scale_to(self, workers: int, cores: int, memory: str) -> ClusterStatus:
        self.daemons.scale_to(workers, cores, memory)
        return self.status()

    def down(self, purge: bool = False) -> list[str]:
        if purge:
            self.state.purge_plan()  # an unmarked dir: one line before anything is stopped
        # the warm driver and the Connect server first: both are drivers, clients of the master
        stopped = ["warm"] if warm.stop(self) else []
        stopped += ["connect"] if connect_server.stop(self) else []
        stopped += self.daemons.stop_all()
        stopped += self.hdfs.stop()
        if purge:  # only inside a dir that carries HyperSpark's marker (state.purge_plan says what)
            self.state.purge()
        return stopped

    def purge_plan(self) -> list[str]:
        return [str(p) for p in self.state.purge_plan()]

    def status(self) -> ClusterStatus:
        if self.master_pid() is None:
            raise NoClusterError(self.name)
        data = spark_api.master_json(self.master_ui)
        if data is None:
            status = ClusterStatus(
                target=self.name, master_url=self.master_url, master_ui=self.master_ui, master_state="DOWN"
            )
        else:
            status = spark_api.parse_master(data, self.name, self.master_url, self.master_ui)
        indices = self.daemons.worker_indices()
        pids = {self.daemons.worker_ui(i): self.state.read_pid(f"worker-{i}") for i in indices}
        for w in status.workers:
            port = spark_api.worker_ui_port(w)
            if w.state == "ALIVE" and port in pids:
                w.pid = pids[port]
        status.urls.update({f"worker-{i}": f"http://{HOST}:{self.daemons.worker_ui(i)}" for i in indices})
        if self.state.owned_alive("history"):
            status.urls["history"] = self.history_ui
        if self.state.owned_alive("mlflow"):
            status.urls["mlflow"] = self.mlflow_url
        status.storage = self.hdfs.storage_status()
        status.warm_driver = warm.status(self)
        status.connect = connect_server.status(self, int(self._setting("connect_port")))
        if status.connect.running:
            status.urls["connect"] = status.connect.url
        status.attach = connect_server.attach_lines(self.master_url, self._saved().get("python") or sys.executable,
                                                    status.connect.port if status.connect.running else None,
                                                    auth.client_conf_dir(self.state))
        namenode = self.hdfs.ui_url()
        if namenode:
            status.urls["namenode"] = namenode
        return status

    # -- data and jobs -------------------------------------------------------
    def upload(self, src: Path, dest: str | None = None, force: bool = False) -> UploadResult:
        src = Path(src)
        if not src.is_file():
            raise OpsError(f"no such file: {src}")
        return self.hdfs.storage().upload(src, dest, force)

    def read_text(self, uri: str) -> str:
        return self.hdfs.read_text(uri)

    def before_submit(self, request: DriverRequest) -> None:
        if self.master_pid() is None:
            raise NoClusterError(self.name)

    def wait_idle(self, timeout: float = 300.0) -> None:
        jvm.wait_dump(self.state, timeout)

    def start_warm(self) -> WarmDriverStatus:
        return warm.start(self)

    def stop_warm(self) -> bool:
        return warm.stop(self)

    def start_connect(self) -> ConnectServerStatus:
        """Start the Spark Connect server on ``connect_port`` (or keep the one that runs there)."""
        port = int(self._setting("connect_port"))
        saved = self._saved().get("connect_port")
        if saved is not None and int(saved) != port and self.state.owned_alive(connect_server.NAME) is not None:
            raise OpsError(f"the Spark Connect server runs on port {saved}, not {port}: run `hyperspark down` first")
        st = connect_server.start(self, port)
        self._save(connect_port=port)
        return st

    def launch_warm(self, request: DriverRequest, output: DriverOutput) -> int | None:
        with spark_submit.sigterm_as_interrupt():
            return warm.launch(self, request, output)

    def launch_driver(self, request: DriverRequest, output: DriverOutput) -> int:
        with spark_submit.sigterm_as_interrupt():
            argv = self.submit_argv(request)
            output.note("$ " + " ".join(argv))
            return spark_submit.run_driver(argv, self.env(), output)

    def submit_argv(self, request: DriverRequest) -> list[str]:
        """The spark-submit command line: driver on loopback, this interpreter everywhere; the executor
        count the driver can expect at once (``job/session.py``: EXECUTORS_HINT), when nothing in the
        request's conf changes how many executors a worker gives."""
        conf = dict(request.conf)
        if not any(k in conf for k in (EXECUTORS_HINT, EXPECTED_EXECUTORS, "spark.executor.cores", "spark.cores.max",
                                       "spark.dynamicAllocation.enabled")):
            free = spark_api.free_workers(spark_api.master_json(self.master_ui))
            if free:
                conf[EXECUTORS_HINT] = str(free)
        return self.spark_submit_argv(conf, spark_submit.tune_script(), request.job_args(str(request.spec_path)))

    def spark_submit_argv(self, conf: dict[str, str], script: Path, args: list[str]) -> list[str]:
        """``spark-submit`` of ``script`` with every driver's conf (+ ``conf``): a submit or the warm driver."""
        return spark_submit.argv(self.master_url, self.driver_conf(conf), script, args)

    def driver_conf(self, conf: dict[str, str]) -> dict[str, str]:
        """Every driver's conf on this cluster (a submit, the warm driver, the Connect server), then ``conf``."""
        confs = spark_submit.driver_conf(int(self._setting("driver_ui_port")), self.state.work_dir / "tmp",
                                         self.events_dir)
        self.events_dir.mkdir(parents=True, exist_ok=True)
        confs.update(self.hdfs.spark_conf())
        # a GPU cluster: executors hold their worker's GPUs (trials take them per stage, the job's side)
        confs.update(gpus.executor_conf(self.daemons.gpus_per_worker()))
        confs.update(auth.driver_conf(self.state))  # the RPC secret: argv() moves it to a 0600 file
        confs.update(conf)
        return confs

    # -- logs and doctor -------------------------------------------------------
    def logs(self, component: str) -> str:
        if component == "driver":
            path: Path | None = self.state.log_file("driver")
        elif component in ("master", *LOGGED_DAEMONS) or re.fullmatch(r"worker-\d+", component):
            path = self.state.log_file(component)
        else:
            path = self.hdfs.log_path(component)
        if path is None or not path.exists():
            raise OpsError(f"no log for {component!r}: choose one of {', '.join(self.components())}")
        return path.read_text(errors="replace")

    def components(self) -> list[str]:
        names = ["master"]
        if self.state.logs_dir.is_dir():
            names += sorted(
                (p.stem for p in self.state.logs_dir.glob("worker-*.log")), key=lambda n: int(n.split("-")[1])
            )
        names.append("driver")
        names += [d for d in LOGGED_DAEMONS if self.state.log_file(d).exists()]
        return names + self.hdfs.components()

    def doctor(self) -> list[Check]:
        checks = [java_check(), python_check(self._saved().get("python") or sys.executable)]
        running = self.master_pid() is not None
        checks.append(ports_check({int(self._setting(k)): PORT_LABELS[k] for k in ("master_port", "ui_port")},
                                  running))
        checks.append(workers_check(len(self.daemons.worker_indices()), self.master_ui) if running
                      else no_cluster_check())
        if running:
            data = spark_api.master_json(self.master_ui)
            workers = [spark_api.parse_worker(w) for w in data.get("workers", [])] if data is not None else None
            checks.append(gpus.gpus_check(workers, self.daemons.gpus_per_worker()))
        checks.append(connect_server.check(self, int(self._setting("connect_port")),
                                           started=self.state.read_pid(connect_server.NAME) is not None))
        return checks + storage_checks(self.hdfs.storage_status(), self.state.storage_dir)
