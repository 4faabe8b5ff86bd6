"""The ops tool's domain types: what every layer passes around and the CLI renders.

This module is the bottom of ``hyperspark.ops``: it imports nothing from the package (only the
job's typed protocol, which imports only pydantic), so storage, the Spark and HDFS readers, the
targets, render and bench all import from here and never upward into ``targets/``.

Everything returned to the CLI is a plain dataclass (or a pydantic model of the job's protocol),
rendered either as rich tables or as JSON (``render.to_jsonable``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from hyperspark.job.protocol import ResultLine, RunSummary


class OpsError(Exception):
    """A user-facing failure: rendered as ONE line by the CLI, exit code 1."""


class NoClusterError(OpsError):
    def __init__(self, target: str) -> None:
        super().__init__(f"no {target} cluster is running: run `hyperspark up` first")


@dataclass
class Gpus:
    """The GPUs a worker advertises to the master (``spark.worker.resource.gpu.*``) and those its
    executors hold now."""

    count: int = 0
    addresses: list[str] = field(default_factory=list)  # e.g. ["0", "1"]
    used: list[str] = field(default_factory=list)  # held by executors now


@dataclass
class WorkerInfo:
    id: str
    host: str
    cores: int
    cores_used: int
    memory_mb: int
    state: str  # ALIVE / DEAD / DECOMMISSIONED ... as the master reports it
    pid: int | None = None  # local target only
    ui_url: str | None = None
    gpus: Gpus = field(default_factory=Gpus)


@dataclass
class AppInfo:
    id: str
    name: str
    state: str
    cores: int
    duration_ms: int | None = None


@dataclass
class StorageStatus:
    kind: str  # "hdfs" or "dir"
    uri: str  # hdfs://host:port or file:///path
    writable: bool | None = None
    live_datanodes: int | None = None
    safemode: bool | None = None
    replication: int | None = None
    detail: str = ""


@dataclass
class WarmDriverStatus:
    """The local target's warm tuning driver (``up --warm``): one SparkSession serving every submit."""

    running: bool
    pid: int | None = None
    address: str | None = None  # 127.0.0.1:PORT
    app_id: str | None = None


@dataclass
class ConnectServerStatus:
    """The local target's Spark Connect server (``up --connect``): a driver serving Connect clients."""

    running: bool
    port: int | None = None
    pid: int | None = None
    url: str | None = None  # sc://127.0.0.1:PORT


@dataclass
class ClusterStatus:
    target: str
    master_url: str  # spark://...
    master_ui: str  # http://...
    master_state: str  # ALIVE / STANDBY / DOWN
    workers: list[WorkerInfo] = field(default_factory=list)
    active_apps: list[AppInfo] = field(default_factory=list)
    completed_apps: list[AppInfo] = field(default_factory=list)
    storage: StorageStatus | None = None
    urls: dict[str, str] = field(default_factory=dict)  # name -> UI url
    warm_driver: WarmDriverStatus | None = None  # None: the target has no warm driver
    connect: ConnectServerStatus | None = None  # None: the target has no Spark Connect server of its own
    #: how a notebook attaches to this cluster: "classic" and (with a Connect server) "connect" Python lines
    attach: dict[str, str] = field(default_factory=dict)

    @property
    def alive_workers(self) -> list[WorkerInfo]:
        return [w for w in self.workers if w.state == "ALIVE"]


@dataclass
class UploadResult:
    src: str
    dest: str  # full URI, e.g. hdfs://127.0.0.1:8020/data/x.csv
    bytes: int
    checksum: str  # sha256 of the local file, verified against what was stored
    seconds: float


@dataclass
class SubmitResult:
    run_id: str
    output_uri: str  # <output>/<run_id>
    exit_code: int
    seconds: float
    summary: RunSummary | None  # summary.json read back; None when the job failed or it is unreadable
    result: ResultLine | None = None  # the job's HYPERSPARK_RESULT line (the essentials, even without summary)
    error: str | None = None  # the job's one line after `hyperspark: error:` (exit 2) or `failed:` (exit 1)
    launched_at: float | None = None  # epoch seconds the driver process started (targets that know it)
    warm: bool = False  # the run went to the target's warm driver (no driver started for it)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


#: receives every line the driver prints
LineSink = Callable[[str], None]

#: the worker-count rule shared by every target (``up``/``scale``): at least one worker, since a
#: cluster without workers cannot run a trial and every target's readiness waits for N ALIVE workers
MIN_WORKERS = 1


def check_worker_count(workers: object, target: str, max_workers: int) -> int:
    """One rule for all targets: an integer from MIN_WORKERS to the target's maximum."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < MIN_WORKERS:
        raise OpsError(f"worker count must be an integer >= {MIN_WORKERS}, got {workers!r}")
    if workers > max_workers:
        raise OpsError(f"the {target} target runs at most {max_workers} workers, got {workers}")
    return workers


class CheckName:
    """Doctor check names, the same on every target (a target runs the ones that apply to it)."""

    JAVA = "java"
    PYTHON = "python"  # driver and workers run the same Python (version or image)
    PORTS = "ports"
    DOCKER = "docker"
    COMPOSE = "compose"
    KUBERNETES_API = "kubernetes api"
    RPC_SECRET = "rpc secret"
    CLUSTER = "cluster"
    MASTER = "master"
    WORKERS = "workers"
    GPUS = "gpus"
    CONNECT = "spark connect"
    STORAGE = "storage"
    HDFS_SAFEMODE = "hdfs safemode"
    HDFS_DATANODES = "hdfs datanodes"
