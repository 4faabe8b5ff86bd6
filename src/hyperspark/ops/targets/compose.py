"""ComposeTarget: the compose.yaml stack (Spark master, scalable workers, HDFS) on a Docker engine.

Lifecycle goes through the ``docker compose`` CLI (so the compose file users run is the one we
run); everything else (status, upload, submit, logs) goes through the Docker engine API with the
``docker`` package, which avoids shelling out per container and works on old engines (API 1.41).

Three pain points users hit with other compose stacks are designed out here:

* the driver runs INSIDE the compose network, in the ``tools`` container built from the same
  image as the executors: executors can reach it, and Python versions match;
* ``upload`` never needs the host to reach DataNodes: the file is copied into the NameNode
  container through the engine API and written to HDFS from there (temporary name, rename,
  sha256 read back), so it works with any number of DataNodes and no /etc/hosts edits;
* replication is capped at the number of live DataNodes.

Settings (ports, sizes) are kept per compose project in the state dir, so a later ``scale`` runs
``compose up`` with the same values and never recreates running containers by accident.
"""
from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from hyperspark.ops import spark_api
from hyperspark.ops.hdfs import jmx as nn_jmx
from hyperspark.ops.hdfs import upload as hdfs_upload
from hyperspark.ops.hdfs.paths import hdfs_path, upload_path
from hyperspark.ops.model import (
    Check,
    CheckName,
    ClusterStatus,
    LineSink,
    NoClusterError,
    OpsError,
    StorageStatus,
    UploadResult,
)
from hyperspark.ops.resources import compose_file as packaged_compose_file
from hyperspark.ops.settings import TargetSettings
from hyperspark.ops.targets.base import Target
from hyperspark.ops.targets.driver import DriverOutput, DriverRequest
from hyperspark.ops.util.files import sha256_file, write_atomic

ENV_PROJECT = "HYPERSPARK_COMPOSE_PROJECT"
ENV_COMPOSE_FILE = "HYPERSPARK_COMPOSE_FILE"
DEFAULT_PROJECT = "hyperspark"
LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_NUMBER = "com.docker.compose.container-number"

MASTER_URL = "spark://spark-master:7077"
HDFS_URI = "hdfs://namenode:8020"
JOB_SCRIPT = "/opt/hyperspark/jobs/tune.py"
SPEC_DIR = "/opt/hyperspark/work/specs"
DEFAULT_OUTPUT = HDFS_URI + "/hyperspark/runs"
#: the DataNode HTTP (WebHDFS) port inside the containers; compose.yaml publishes it on 127.0.0.1
DATANODE_HTTP = 9864


def _var(name: str, env: str) -> Any:
    """A compose variable: set by field name (explicit) or by its variable (environment, saved file)."""
    return Field(None, validation_alias=env)


class ComposeSettings(TargetSettings):
    """The compose variables (documented in compose.yaml's header): field = setting, alias = variable.

    Saved per project as the variables themselves (``compose-<project>.json``) and handed to
    ``docker compose`` as its environment.
    """

    refused: ClassVar[dict[str, str]] = {
        "worker_ui_port": "compose workers are scalable: use worker_ui_ports=FIRST-LAST (HS_WORKER_UI_PORTS)",
    }

    master_port: int | None = _var("master_port", "HS_MASTER_PORT")
    ui_port: int | None = _var("ui_port", "HS_MASTER_UI_PORT")
    namenode_port: int | None = _var("namenode_port", "HS_NAMENODE_PORT")
    namenode_ui_port: int | None = _var("namenode_ui_port", "HS_NAMENODE_UI_PORT")
    driver_ui_port: int | None = _var("driver_ui_port", "HS_DRIVER_UI_PORT")
    worker_ui_ports: str | None = _var("worker_ui_ports", "HS_WORKER_UI_PORTS")
    datanode_ui_ports: str | None = _var("datanode_ui_ports", "HS_DATANODE_UI_PORTS")
    datanodes: int | None = _var("datanodes", "HS_DATANODES")
    replication: int | None = _var("replication", "HS_HDFS_REPLICATION")
    worker_cores: int | None = _var("worker_cores", "HS_WORKER_CORES")
    worker_memory: str | None = _var("worker_memory", "HS_WORKER_MEMORY")
    # passed through from the environment when set (images, heaps, the HDFS cluster id)
    spark_image: str | None = _var("spark_image", "HS_SPARK_IMAGE")
    base_image: str | None = _var("base_image", "HS_BASE_IMAGE")
    with_boost: str | None = _var("with_boost", "HS_WITH_BOOST")
    hadoop_image: str | None = _var("hadoop_image", "HS_HADOOP_IMAGE")
    hadoop_base_image: str | None = _var("hadoop_base_image", "HS_HADOOP_BASE_IMAGE")
    daemon_memory: str | None = _var("daemon_memory", "HS_DAEMON_MEMORY")
    hdfs_cluster_id: str | None = _var("hdfs_cluster_id", "HS_HDFS_CLUSTER_ID")
    hdfs_heap: str | None = _var("hdfs_heap", "HS_HDFS_HEAP")
    model_config = SettingsConfigDict(env_prefix="HYPERSPARK_COMPOSE_")

    #: the compose stack always runs HDFS: only True (or unset) is accepted
    hdfs: bool | None = None

    @classmethod
    def check_explicit(cls, target: str, values: dict[str, Any]) -> None:
        if values.get("hdfs") is False:
            raise OpsError("the compose target always runs HDFS (--no-hdfs is not supported)")
        super().check_explicit(target, values)

    def variables(self) -> dict[str, str]:
        """The compose variables that are set, as ``docker compose`` reads them."""
        env = self.explicit_env()
        env.pop("hdfs", None)
        return env


def compose_file() -> Path:
    """compose.yaml: $HYPERSPARK_COMPOSE_FILE, else the shipped one (checkout or wheel), else ./compose.yaml."""
    env = os.environ.get(ENV_COMPOSE_FILE)
    candidates = [Path(env)] if env else []
    candidates += [p for p in (packaged_compose_file(), Path.cwd() / "compose.yaml") if p is not None]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    where = env or "next to the hyperspark package or in the current directory"
    raise OpsError(f"compose.yaml not found ({where}): set {ENV_COMPOSE_FILE}")


def compose_command() -> list[str]:
    """``docker compose`` (v2 plugin) or a standalone ``docker-compose`` v2 binary."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        return [standalone]
    raise OpsError("docker compose v2 is not installed (run .ci/provision-docker.sh or install the compose plugin)")


def parse_hdfs_path(uri: str) -> str:
    """``hdfs://namenode:8020/a/b``, ``hdfs:///a/b``, ``/a/b`` or ``a/b`` -> ``/a/b`` (other schemes refused)."""
    return hdfs_path(uri, HDFS_URI)


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (what compose itself reads), without expanding anything."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def tar_single_file(name: str, data: bytes | None = None, src: Path | None = None, uid: int = 0,
                    mode: int = 0o644) -> io.BufferedIOBase:
    """A tar stream holding one file (from ``data`` or ``src``), for the engine's put_archive."""
    fh = tempfile.TemporaryFile()
    with tarfile.open(fileobj=fh, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.uid, info.gid, info.mode, info.mtime = uid, uid, mode, int(time.time())
        if src is not None:
            info.size = src.stat().st_size
            with src.open("rb") as f:
                tar.addfile(info, f)
        else:
            payload = data or b""
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    fh.seek(0)
    return fh


@dataclass
class ExecResult:
    exit_code: int
    output: str  # stdout and stderr as they came
    stdout: str = ""


class ComposeTarget(Target):
    """Drive the compose project ``HYPERSPARK_COMPOSE_PROJECT`` (default ``hyperspark``)."""

    name = "compose"
    max_workers = 16

    settings_model = ComposeSettings

    def __init__(self, state_dir: Path, project: str | None = None, file: Path | None = None,
                 **settings: Any) -> None:
        self.project = project or os.environ.get(ENV_PROJECT) or os.environ.get("COMPOSE_PROJECT_NAME") \
            or DEFAULT_PROJECT
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", self.project):
            raise OpsError(f"compose project name {self.project!r}: use lowercase letters, digits, '_' and '-'")
        self._file = file
        self._client: Any = None
        super().__init__(state_dir, **settings)

    @property
    def file(self) -> Path:
        if self._file is None:
            self._file = compose_file()
        return self._file

    def _saved_name(self) -> str:
        return f"compose-{self.project}.json"

    def _saved(self) -> dict[str, str]:
        return dict(self.state.read_json(self._saved_name(), {}) or {})

    def saved_settings(self) -> dict[str, str]:
        return self._saved()

    def _settings(self, prefer_env: bool = False) -> dict[str, str]:
        """Compose variables: explicit > saved (the stack that runs) > environment.

        ``up`` passes ``prefer_env``: there the environment beats what was saved, since starting
        is when a user means to change settings; ``scale`` and friends keep the saved values so
        that compose never recreates running containers by accident.
        """
        return self.settings(prefer_env=prefer_env).variables()

    def _secret(self) -> str:
        """The Spark RPC secret: environment > .env beside compose.yaml > one generated and kept (0600)."""
        if os.environ.get("HS_SPARK_SECRET"):
            return os.environ["HS_SPARK_SECRET"]
        dotenv = read_dotenv(self.file.parent / ".env").get("HS_SPARK_SECRET")
        if dotenv:
            return dotenv
        path = self.state.root / f"spark-secret-{self.project}"
        if path.is_file():
            return path.read_text().strip()
        secret = secrets.token_hex(32)
        write_atomic(path, secret + "\n", mode=0o600)
        return secret

    def _env(self, settings: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(settings if settings is not None else self._settings())
        env["HS_SPARK_SECRET"] = self._secret()
        env["DOCKER_BUILDKIT"] = "0"  # no buildx here; the classic builder works everywhere
        env.pop("COMPOSE_PROFILES", None)
        return env

    # -- engine plumbing -----------------------------------------------------------
    def client(self) -> Any:
        if self._client is None:
            try:
                import docker
            except ImportError as exc:
                raise OpsError("the compose target needs the `docker` package: pip install 'hyperspark[compose]'") \
                    from exc
            try:
                self._client = docker.from_env(timeout=120)
                self._client.ping()
            except Exception as exc:  # noqa: BLE001 - any failure here means: no engine
                self._client = None
                raise OpsError(f"no Docker engine reachable ({type(exc).__name__}): start dockerd "
                               "or set DOCKER_HOST") from None
        return self._client

    def _compose(self, *args: str, settings: dict[str, str] | None = None, timeout: float = 900,
                 check: bool = True) -> subprocess.CompletedProcess:
        argv = compose_command() + ["-p", self.project, "-f", str(self.file), "--profile", "tools", *args]
        proc = subprocess.run(argv, env=self._env(settings), capture_output=True, text=True, timeout=timeout,
                              cwd=self.file.parent, stdin=subprocess.DEVNULL)
        self.state.logs_dir.mkdir(parents=True, exist_ok=True)
        with (self.state.logs_dir / f"compose-{self.project}.log").open("a") as log:
            log.write(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}\n")
        if check and proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            reason = next((ln for ln in reversed(lines) if "rror" in ln), lines[-1] if lines else "no output")
            raise OpsError(f"docker compose {args[0]} failed: {reason}")
        return proc

    def containers(self, service: str | None = None, all: bool = False) -> list[Any]:
        """Our containers, sorted by service then compose container number."""
        filters = {"label": [f"{LABEL_PROJECT}={self.project}"]}
        if service:
            filters["label"].append(f"{LABEL_SERVICE}={service}")
        found = self.client().containers.list(all=all, filters=filters)
        return sorted(found, key=lambda c: (c.labels.get(LABEL_SERVICE, ""), int(c.labels.get(LABEL_NUMBER, 0))))

    def _one(self, service: str) -> Any:
        running = self.containers(service)
        if not running:
            if self.containers():
                raise OpsError(f"the {service} container of compose project {self.project!r} is not running")
            raise NoClusterError(self.name)
        return running[0]

    def _host_port(self, service: str, port: int) -> int | None:
        for c in self.containers(service):
            c.reload()
            bindings = (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp") or []
            for b in bindings:
                if b.get("HostPort"):
                    return int(b["HostPort"])
        return None

    def exec(self, container: Any, cmd: list[str], env: dict[str, str] | None = None,
             on_line: LineSink | None = None, log: Path | None = None) -> ExecResult:
        """Run ``cmd`` in ``container``; stream stdout+stderr lines to ``on_line`` and ``log``."""
        api = self.client().api
        exec_id = api.exec_create(container.id, cmd, environment=env or {}, stdout=True, stderr=True)["Id"]
        merged: list[str] = []
        stdout: list[str] = []
        buffer = ""
        fh = log.open("w") if log else None
        try:
            for out, err in api.exec_start(exec_id, stream=True, demux=True):
                for raw, is_out in ((out, True), (err, False)):
                    if not raw:
                        continue
                    text = raw.decode("utf-8", errors="replace")
                    merged.append(text)
                    if is_out:
                        stdout.append(text)
                    if fh:
                        fh.write(text)
                        fh.flush()
                    if on_line:
                        buffer += text
                        *lines, buffer = buffer.split("\n")
                        for line in lines:
                            on_line(line)
            if on_line and buffer:
                on_line(buffer)
        finally:
            if fh:
                fh.close()
        code = api.exec_inspect(exec_id).get("ExitCode")
        return ExecResult(exit_code=int(code if code is not None else 1), output="".join(merged),
                          stdout="".join(stdout))

    # -- lifecycle -------------------------------------------------------------------
    def up(self, workers: int, worker_cores: int = 1, worker_memory: str = "1g") -> ClusterStatus:
        self.check_workers(workers)
        self.client()
        settings = self._settings(prefer_env=True)
        settings.setdefault("HS_WORKER_CORES", str(worker_cores))
        settings.setdefault("HS_WORKER_MEMORY", worker_memory)
        if "worker_cores" not in self._overrides and worker_cores != 1:
            settings["HS_WORKER_CORES"] = str(worker_cores)
        if "worker_memory" not in self._overrides and worker_memory != "1g":
            settings["HS_WORKER_MEMORY"] = worker_memory
        datanodes = int(settings.get("HS_DATANODES", "1"))
        if datanodes < 1:
            raise OpsError("HS_DATANODES must be at least 1")
        # replication never exceeds the DataNodes the stack runs
        settings["HS_HDFS_REPLICATION"] = str(min(int(settings.get("HS_HDFS_REPLICATION", "1")), datanodes))
        self._build_missing(settings)
        try:
            self._compose("up", "-d", "--wait", "--wait-timeout", "600", "--no-build", "--remove-orphans",
                          "--scale", f"spark-worker={workers}", "--scale", f"datanode={datanodes}",
                          settings=settings)
        except OpsError as exc:
            raise OpsError(f"{exc}{self._why_exited()}") from None
        self.state.write_json(self._saved_name(), settings)
        self._wait_workers(workers)
        return self.status()

    def build(self) -> None:
        """(Re)build the project's images from this checkout; cached layers make a no-op quick."""
        self.client()
        self._compose("build", settings=self._settings(), timeout=3600)

    def _build_missing(self, settings: dict[str, str]) -> None:
        """Build the Spark/Hadoop images when absent (never pulled: they are this project's images)."""
        import docker.errors

        wanted = {
            "spark-master": settings.get("HS_SPARK_IMAGE", "hyperspark/spark:0.1.0"),
            "namenode": settings.get("HS_HADOOP_IMAGE", "hyperspark/hadoop:0.1.0"),
        }
        for service, image in wanted.items():
            try:
                self.client().images.get(image)
            except docker.errors.ImageNotFound:
                self._compose("build", service, settings=settings, timeout=3600)

    def _why_exited(self) -> str:
        """'; <container>: <last log line>' for containers of ours that stopped (e.g. a refused format)."""
        for c in self.containers(all=True):
            if c.status in ("exited", "dead"):
                tail = c.logs(tail=5).decode("utf-8", errors="replace").strip().splitlines()
                return f"; {c.name}: {tail[-1].strip() if tail else 'exited'}"
        return ""

    def _wait_workers(self, workers: int, timeout: float = 300) -> dict:
        ui = self.master_ui()
        return spark_api.wait_alive_workers(ui, workers, timeout, still_running=self._master_gone)

    def _master_gone(self) -> str | None:
        return None if self.containers("spark-master") else "the spark-master container stopped"

    def down(self, purge: bool = False) -> list[str]:
        stopped = [c.name for c in self.containers(all=True)]
        if not stopped and not purge:
            return []
        args = ["down", "--remove-orphans", "--timeout", "30"]
        if purge:
            args.append("--volumes")
        self._compose(*args, settings=self._saved() or None)
        if purge:
            for name in (self._saved_name(), f"spark-secret-{self.project}"):
                (self.state.root / name).unlink(missing_ok=True)
        return stopped

    def scale(self, workers: int) -> ClusterStatus:
        self.check_workers(workers)
        current = self.containers("spark-worker")
        if not self.containers("spark-master"):
            raise NoClusterError(self.name)
        if workers < len(current):
            for c in self._removal_order(current)[: len(current) - workers]:
                c.stop(timeout=20)
                c.remove()
        settings = self._saved() or self._settings()
        self._compose("up", "-d", "--wait", "--wait-timeout", "600", "--no-build", "--no-recreate",
                      "--scale", f"spark-worker={workers}",
                      "--scale", f"datanode={len(self.containers('datanode')) or 1}", settings=settings)
        self._wait_workers(workers)
        return self.status()

    def _removal_order(self, current: list[Any]) -> list[Any]:
        """Idle workers first (no cores in use per the master), then the highest numbered."""
        busy = {w.host for w in spark_api.busy_workers(spark_api.master_json(self.master_ui()))}
        return spark_api.idle_first(current, lambda c: self._ip(c) in busy,
                                    lambda c: int(c.labels.get(LABEL_NUMBER, 0)))

    @staticmethod
    def _ip(container: Any) -> str:
        nets = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
        return next((n.get("IPAddress") for n in nets.values() if n.get("IPAddress")), "")

    # -- status -------------------------------------------------------------------
    def master_ui(self) -> str:
        port = self._host_port("spark-master", 8080)
        if port is None:
            if self.containers():
                raise OpsError("the spark-master UI is not published: is spark-master running?")
            raise NoClusterError(self.name)
        return f"http://127.0.0.1:{port}"

    def namenode_ui(self) -> str | None:
        port = self._host_port("namenode", 9870)
        return f"http://127.0.0.1:{port}" if port else None

    def status(self) -> ClusterStatus:
        if not self.containers():
            raise NoClusterError(self.name)
        ui = self.master_ui()
        data = spark_api.master_json(ui)
        if data is None:
            status = ClusterStatus(target=self.name, master_url=MASTER_URL, master_ui=ui, master_state="DOWN")
        else:
            status = spark_api.parse_master(data, self.name, MASTER_URL, ui)
        status.storage = self._storage_status()
        status.urls.update(self._urls())
        return status

    def _urls(self) -> dict[str, str]:
        urls = {}
        for service, port, label in (("spark-master", 8080, "master"), ("namenode", 9870, "namenode"),
                                     ("tools", 4040, "driver")):
            host_port = self._host_port(service, port)
            if host_port:
                urls[label] = f"http://127.0.0.1:{host_port}"
        for service, port, label in (("spark-worker", 8081, "worker"), ("datanode", 9864, "datanode")):
            for c in self.containers(service):
                bindings = (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp") or []
                if bindings and bindings[0].get("HostPort"):
                    urls[f"{label}-{c.labels.get(LABEL_NUMBER)}"] = f"http://127.0.0.1:{bindings[0]['HostPort']}"
        return urls

    def _beans(self) -> nn_jmx.BeanReader:
        ui = self.namenode_ui()
        return nn_jmx.http_reader(ui) if ui else (lambda bean: None)

    def live_datanodes(self) -> int | None:
        return nn_jmx.live_datanodes(self._beans())

    def _storage_status(self) -> StorageStatus:
        replication = int(self._saved().get("HS_HDFS_REPLICATION", "1"))
        return nn_jmx.storage_status(self._beans(), HDFS_URI, replication, where=self.namenode_ui() or "")

    # -- data --------------------------------------------------------------------------
    def upload(self, src: Path, dest: str | None = None, force: bool = False) -> UploadResult:
        """Over WebHDFS from the host (no JVM started): NameNode and DataNodes through their ports published
        on 127.0.0.1; temporary name, sha256 read back, rename (:meth:`Storage.upload`). When a DataNode's
        port is not published, the older way: a ``hdfs dfs`` script inside the NameNode container."""
        src = Path(src)
        if not src.is_file():
            raise OpsError(f"no such file: {src}")
        path = upload_path(src.name, dest, HDFS_URI)
        namenode = self._one("namenode")
        live = self.live_datanodes() or 0
        if live < 1:
            raise OpsError("HDFS has no live DataNode: wait for the datanode containers (hyperspark status)")
        replication = max(1, min(int(self._saved().get("HS_HDFS_REPLICATION", "1")), live))
        storage = self._webhdfs(replication)
        if storage is None:
            return self._upload_by_exec(namenode, src, path, force, replication)
        return storage.upload(src, path, force)

    def _webhdfs(self, replication: int) -> Any:
        """WebHdfsStorage on the NameNode's published UI port, writing as the HDFS superuser (the owner of
        ``/``, as ``hdfs dfs`` in the NameNode container does); None when a DataNode is not reachable."""
        from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage

        ui = self.namenode_ui()
        routes = self._datanode_routes()
        if ui is None or routes is None:
            return None
        session = _DataNodeRedirects(routes)
        try:
            root = session.get(f"{ui}/webhdfs/v1/?op=GETFILESTATUS", timeout=30)
            owner = root.json()["FileStatus"]["owner"]
        except Exception:  # noqa: BLE001 - no WebHDFS answer: the exec path reports what is wrong
            return None
        return WebHdfsStorage(ui, HDFS_URI, user=owner, replication=replication, session=session, permission="644")

    def _datanode_routes(self) -> dict[tuple[str, int], int] | None:
        """(name the NameNode redirects to, DataNode HTTP port) -> published host port, for every running
        DataNode container under every name it may be given (hostname, IP, container name); None when one
        has no published port."""
        routes: dict[tuple[str, int], int] = {}
        for c in self.containers("datanode"):
            bindings = (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{DATANODE_HTTP}/tcp") or []
            host_port = next((int(b["HostPort"]) for b in bindings if b.get("HostPort")), None)
            if host_port is None:
                return None
            nets = c.attrs.get("NetworkSettings", {}).get("Networks") or {}
            names = {c.attrs.get("Config", {}).get("Hostname"), c.name, c.id[:12]}
            names |= {n.get("IPAddress") for n in nets.values()}
            for name in names - {None, ""}:
                routes[(name, DATANODE_HTTP)] = host_port
        return routes or None

    def _upload_by_exec(self, namenode: Any, src: Path, path: str, force: bool, replication: int) -> UploadResult:
        started = time.monotonic()
        checksum = sha256_file(src)
        size = src.stat().st_size
        staging = f"hyperspark-upload-{secrets.token_hex(4)}"
        with tar_single_file(f"{staging}/{src.name}", src=src, uid=1000) as stream:
            if not namenode.put_archive("/tmp", stream):
                raise OpsError("could not copy the file into the namenode container")
        script = hdfs_upload.script(path, force, replication, size, local_file=f"/tmp/{staging}/{src.name}")
        result = self.exec(namenode, ["bash", "-c", script])
        return hdfs_upload.verdict(src, HDFS_URI + path, result.exit_code, result.output, result.stdout,
                                   checksum, size, time.monotonic() - started)

    def read_text(self, uri: str) -> str:
        if uri.startswith("file://"):
            result = self.exec(self._one("tools"), ["cat", uri[len("file://"):]])
        else:
            result = self.exec(self._one("namenode"), ["hdfs", "dfs", "-cat", parse_hdfs_path(uri)])
        if result.exit_code != 0:
            raise OpsError(f"cannot read {uri}: {hdfs_upload.last_error(result.output)}")
        return result.stdout

    # -- jobs --------------------------------------------------------------------------
    def before_submit(self, request: DriverRequest) -> None:
        self._tools()

    def launch_driver(self, request: DriverRequest, output: DriverOutput) -> int:
        tools = self._tools()
        remote_spec = self.put_file(tools, request.spec_path, f"{SPEC_DIR}/{request.run_id}")
        overrides = list(request.overrides)
        if not any(item.startswith("output=") for item in overrides) and not _spec_output_is_hdfs(request.spec_path):
            # a host path means nothing inside the cluster: results go to the stack's HDFS
            overrides.append(f"output={DEFAULT_OUTPUT}")
        remote_pkgs = [self.put_file(tools, p, f"{SPEC_DIR}/{request.run_id}") for p in request.packages]
        request = DriverRequest(request.spec_path, request.run_id, request.resume, request.conf, overrides,
                                request.packages)
        argv = ["spark-submit", "--master", MASTER_URL, *request.conf_args(), JOB_SCRIPT,
                *request.job_args(remote_spec, remote_pkgs)]
        output.note("$ " + " ".join(argv))
        return self.exec(tools, argv, on_line=output).exit_code

    def spark_submit(self, script: Path, args: list[str] | None = None, on_line: LineSink | None = None,
                     conf: dict[str, str] | None = None) -> ExecResult:
        """Run any PySpark script with spark-submit from the tools container (inside the network)."""
        tools = self._tools()
        remote = self.put_file(tools, Path(script), f"{SPEC_DIR}/scripts-{secrets.token_hex(3)}")
        argv = ["spark-submit", "--master", MASTER_URL]
        for key, value in (conf or {}).items():
            argv += ["--conf", f"{key}={value}"]
        self.state.logs_dir.mkdir(parents=True, exist_ok=True)
        return self.exec(tools, argv + [remote, *(args or [])], on_line=on_line,
                         log=self.state.logs_dir / "driver.log")

    def put_file(self, container: Any, src: Path, remote_dir: str) -> str:
        """Copy ``src`` into ``remote_dir`` of a Spark-image container (owned by uid 185)."""
        rel = remote_dir.removeprefix("/opt/hyperspark/work/").strip("/")
        with tar_single_file(f"{rel}/{src.name}", src=src, uid=185) as stream:
            if not container.put_archive("/opt/hyperspark/work", stream):
                raise OpsError(f"could not copy {src} into the {container.name} container")
        return f"{remote_dir}/{src.name}"

    def _tools(self) -> Any:
        if not self.containers("spark-master"):
            raise NoClusterError(self.name)
        if not self.containers("tools"):
            self._compose("up", "-d", "--wait", "--no-build", "--no-recreate", "--no-deps", "tools",
                          settings=self._saved() or None)
        return self._one("tools")

    # -- logs and doctor -------------------------------------------------------------------
    def components(self) -> list[str]:
        names = []
        for c in self.containers(all=True):
            service = c.labels.get(LABEL_SERVICE, "?")
            number = c.labels.get(LABEL_NUMBER, "1")
            names.append({"spark-master": "master", "spark-worker": f"worker-{number}",
                          "datanode": f"datanode-{number}"}.get(service, service))
        return names + ["driver"]

    def logs(self, component: str) -> str:
        if component == "driver":
            path = self.state.log_file("driver")
            if not path.exists():
                raise OpsError("no driver log yet: run `hyperspark submit` first")
            return path.read_text(errors="replace")
        match = re.fullmatch(r"(master|namenode|tools|worker|datanode)(?:-(\d+))?", component)
        service = {"master": "spark-master", "worker": "spark-worker"}.get(match.group(1), match.group(1)) \
            if match else None
        for c in self.containers(service, all=True) if service else []:
            if match.group(2) is None or c.labels.get(LABEL_NUMBER) == match.group(2):
                return c.logs(stdout=True, stderr=True).decode("utf-8", errors="replace")
        raise OpsError(f"no log for {component!r}: choose one of {', '.join(self.components())}")

    def doctor(self) -> list[Check]:
        checks: list[Check] = []
        try:
            version = self.client().version()
            checks.append(Check(CheckName.DOCKER, True, f"engine {version.get('Version')} (API {version.get('ApiVersion')})"))
        except OpsError as exc:
            return [Check(CheckName.DOCKER, False, str(exc))]
        try:
            checks.append(Check(CheckName.COMPOSE, True, " ".join(compose_command())))
        except OpsError as exc:
            checks.append(Check(CheckName.COMPOSE, False, str(exc)))
        try:
            status = self.status()
        except OpsError as exc:
            return checks + [Check(CheckName.CLUSTER, False, str(exc))]
        alive = len(status.alive_workers)
        expected = len(self.containers("spark-worker"))
        checks.append(Check(CheckName.MASTER, status.master_state == "ALIVE", f"{status.master_state} at {status.master_ui}"))
        checks.append(Check(CheckName.WORKERS, alive == expected and alive > 0, f"{alive} ALIVE of {expected} containers"))
        if status.storage is not None:
            checks += nn_jmx.hdfs_checks(status.storage)
        checks.append(self._check_python())
        return checks

    def _check_python(self) -> Check:
        versions = {}
        for c in self.containers("tools")[:1] + self.containers("spark-worker"):
            res = self.exec(c, ["python", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
            versions[c.name] = res.stdout.strip()
        same = len(set(versions.values())) == 1
        return Check(CheckName.PYTHON, same and bool(versions), ", ".join(f"{k}={v}" for k, v in versions.items()) or "none")


def _DataNodeRedirects(routes: dict[tuple[str, int], int]) -> Any:
    """A ``requests.Session`` that sends what WebHDFS redirects to a DataNode (``http://<container
    hostname>:9864/...``, a name only the compose network resolves) to that DataNode's port published on
    127.0.0.1. A redirect to a DataNode it does not know is one clear error, not a retry."""
    import requests

    class Session(requests.Session):
        def send(self, request: Any, **kwargs: Any) -> Any:
            parts = urllib.parse.urlsplit(request.url)
            if parts.hostname not in ("127.0.0.1", "localhost"):
                host_port = routes.get((parts.hostname or "", parts.port or 80))
                if host_port is None:
                    raise OpsError(f"WebHDFS redirected to {parts.hostname}:{parts.port}, which is not a "
                                   "DataNode published on 127.0.0.1 (is a datanode container restarting?)")
                request.url = urllib.parse.urlunsplit(parts._replace(netloc=f"127.0.0.1:{host_port}"))
            return super().send(request, **kwargs)

    return Session()


def _spec_output_is_hdfs(spec_path: Path) -> bool:
    """True when the spec's ``output`` already names HDFS (the job validates the rest itself)."""
    try:
        import yaml

        data = yaml.safe_load(spec_path.read_text())
    except Exception:  # noqa: BLE001 - an unreadable spec is reported by the job, with the key
        return True
    output = data.get("output") if isinstance(data, dict) else None
    return isinstance(output, str) and output.startswith("hdfs://")
