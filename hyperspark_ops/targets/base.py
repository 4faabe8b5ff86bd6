"""The one small interface every target (local, compose, k8s) implements.

The CLI only ever talks to a :class:`Target`. A target owns three things: how
the Spark master/workers and HDFS are started and stopped, where cluster
storage lives (HDFS or a plain directory), and how the tuning job is submitted
so that the driver sits where executors can reach it.

Everything returned is a plain dataclass so that the CLI can render it either
as rich tables or as JSON (``dataclasses.asdict``).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable


class OpsError(Exception):
    """A user-facing failure: rendered as ONE line by the CLI, exit code 1."""


class NoClusterError(OpsError):
    def __init__(self, target: str) -> None:
        super().__init__(f"no {target} cluster is running: run `hyperspark up` first")


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
    summary: dict | None  # parsed summary.json, None when the job failed


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


LineSink = Callable[[str], None]


class Target(abc.ABC):
    """One cluster flavour. Implementations: LocalTarget, ComposeTarget, K8sTarget."""

    name: str = "?"

    #: largest worker count this target accepts (``bench``/``scale`` check it)
    max_workers: int = 64

    # -- lifecycle -------------------------------------------------------
    @abc.abstractmethod
    def up(self, workers: int, worker_cores: int = 1, worker_memory: str = "1g") -> ClusterStatus:
        """Start (or bring to ``workers``) and block until the master shows that many ALIVE."""

    @abc.abstractmethod
    def down(self, purge: bool = False) -> list[str]:
        """Stop everything this target started; returns what was stopped. ``purge`` drops data."""

    @abc.abstractmethod
    def status(self) -> ClusterStatus:
        """Raises NoClusterError when nothing runs."""

    @abc.abstractmethod
    def scale(self, workers: int) -> ClusterStatus:
        """Add or remove workers (idle ones go first); block until the master agrees."""

    # -- data and jobs ---------------------------------------------------
    @abc.abstractmethod
    def upload(self, src: Path, dest: str | None = None, force: bool = False) -> UploadResult:
        """Copy a local file into cluster storage (temp name, rename, verify)."""

    @abc.abstractmethod
    def submit(
        self,
        spec_path: Path,
        run_id: str | None = None,
        resume: bool = False,
        conf: dict[str, str] | None = None,
        on_line: LineSink | None = None,
    ) -> SubmitResult:
        """Run the tuning job with the driver where executors can reach it.

        ``on_line`` receives each line the driver prints (progress is a line
        starting with ``HYPERSPARK_PROGRESS `` followed by JSON).
        """

    @abc.abstractmethod
    def read_text(self, uri: str) -> str:
        """Read a small text file (summary.json, trials.jsonl) from cluster storage."""

    @abc.abstractmethod
    def logs(self, component: str) -> str:
        """Log text of ``master``, ``worker-N``, ``driver`` (last run), ``namenode``..."""

    @abc.abstractmethod
    def doctor(self) -> list[Check]:
        """Readiness checks, one verdict each."""

    def components(self) -> Iterable[str]:
        return ["master", "driver"]
