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

import hashlib
import io
import json
import os
import posixpath
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperspark_ops import spark_api
from hyperspark_ops.state import StateDir, write_atomic
from hyperspark_ops.targets.base import (
    Check,
    ClusterStatus,
    LineSink,
    NoClusterError,
    OpsError,
    StorageStatus,
    SubmitResult,
    Target,
    UploadResult,
)

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

#: configure() key -> compose variable (documented in compose.yaml's header)
SETTINGS: dict[str, str] = {
    "master_port": "HS_MASTER_PORT",
    "ui_port": "HS_MASTER_UI_PORT",
    "namenode_port": "HS_NAMENODE_PORT",
    "namenode_ui_port": "HS_NAMENODE_UI_PORT",
    "driver_ui_port": "HS_DRIVER_UI_PORT",
    "worker_ui_ports": "HS_WORKER_UI_PORTS",
    "datanode_ui_ports": "HS_DATANODE_UI_PORTS",
    "datanodes": "HS_DATANODES",
    "replication": "HS_HDFS_REPLICATION",
    "worker_cores": "HS_WORKER_CORES",
    "worker_memory": "HS_WORKER_MEMORY",
}
#: other compose variables passed through from the environment when set
PASSTHROUGH = (
    "HS_SPARK_IMAGE", "HS_BASE_IMAGE", "HS_WITH_BOOST", "HS_HADOOP_IMAGE", "HS_HADOOP_BASE_IMAGE",
    "HS_DAEMON_MEMORY", "HS_HDFS_CLUSTER_ID", "HS_HDFS_HEAP",
)

NN_STATE_QUERY = "/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState"
NN_INFO_QUERY = "/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo"


def compose_file() -> Path:
    """compose.yaml: $HYPERSPARK_COMPOSE_FILE, else the repo's (next to the package), else ./compose.yaml."""
    env = os.environ.get(ENV_COMPOSE_FILE)
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2] / "compose.yaml", Path.cwd() / "compose.yaml"]
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
    """``hdfs://namenode:8020/a/b``, ``hdfs:///a/b``, ``/a/b`` or ``a/b`` (from the HDFS root) -> ``/a/b``.

    Other schemes are refused: the compose target's storage is its HDFS.
    """
    if uri.startswith("hdfs://"):
        rest = uri[len("hdfs://"):]
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    elif "://" in uri or uri.startswith("file:"):
        raise OpsError(f"{uri!r} is not an HDFS path: use hdfs://namenode:8020/PATH or /PATH")
    else:
        path = "/" + uri.lstrip("/")
    if ".." in path.split("/"):
        raise OpsError(f"{uri!r}: '..' is not allowed in HDFS paths")
    path = posixpath.normpath(path)
    if path == "/":
        raise OpsError(f"{uri!r} does not name a file in HDFS")
    return path


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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ExecResult:
    exit_code: int
    output: str  # stdout and stderr as they came
    stdout: str = ""


class ComposeTarget(Target):
    """Drive the compose project ``HYPERSPARK_COMPOSE_PROJECT`` (default ``hyperspark``)."""

    name = "compose"
    max_workers = 16

    def __init__(self, state_dir: Path, project: str | None = None, file: Path | None = None) -> None:
        self.state = StateDir(state_dir)
        self.project = project or os.environ.get(ENV_PROJECT) or os.environ.get("COMPOSE_PROJECT_NAME") \
            or DEFAULT_PROJECT
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", self.project):
            raise OpsError(f"compose project name {self.project!r}: use lowercase letters, digits, '_' and '-'")
        self._file = file
        self._overrides: dict[str, str] = {}
        self._client: Any = None

    # -- configuration ---------------------------------------------------------
    def configure(self, **settings: Any) -> None:
        """Ports and sizes for the next ``up`` (keys of SETTINGS); ``hdfs`` is always on here."""
        for key, value in settings.items():
            if value is None:
                continue
            if key == "hdfs":
                if not value:
                    raise OpsError("the compose target always runs HDFS (--no-hdfs is not supported)")
                continue
            if key == "worker_ui_port":
                raise OpsError("compose workers are scalable: use worker_ui_ports=FIRST-LAST (HS_WORKER_UI_PORTS)")
            if key not in SETTINGS:
                raise OpsError(f"unknown setting {key!r} for the compose target")
            self._overrides[SETTINGS[key]] = str(value)

    @property
    def file(self) -> Path:
        if self._file is None:
            self._file = compose_file()
        return self._file

    def _saved_name(self) -> str:
        return f"compose-{self.project}.json"

    def _saved(self) -> dict[str, str]:
        return dict(self.state.read_json(self._saved_name(), {}) or {})

    def _settings(self, prefer_env: bool = False) -> dict[str, str]:
        """Compose variables: explicit configure() > saved (the stack that runs) > environment.

        ``up`` passes ``prefer_env``: there the environment beats what was saved, since starting
        is when a user means to change settings; ``scale`` and friends keep the saved values so
        that compose never recreates running containers by accident.
        """
        env = {var: os.environ[var] for var in list(SETTINGS.values()) + list(PASSTHROUGH) if var in os.environ}
        values = {**self._saved(), **env} if prefer_env else {**env, **self._saved()}
        values.update(self._overrides)
        return values

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
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret + "\n")
        os.replace(tmp, path)
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
        self._check_count(workers)
        self.client()
        settings = self._settings(prefer_env=True)
        settings.setdefault("HS_WORKER_CORES", str(worker_cores))
        settings.setdefault("HS_WORKER_MEMORY", worker_memory)
        if "HS_WORKER_CORES" not in self._overrides and worker_cores != 1:
            settings["HS_WORKER_CORES"] = str(worker_cores)
        if "HS_WORKER_MEMORY" not in self._overrides and worker_memory != "1g":
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

    def _check_count(self, workers: int) -> None:
        if not 0 <= workers <= self.max_workers:
            raise OpsError(f"workers must be between 0 and {self.max_workers} for the compose target")

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
        self._check_count(workers)
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
        data = spark_api.master_json(self.master_ui()) or {}
        busy = {w.get("host") for w in data.get("workers", []) if w.get("state") == "ALIVE" and w.get("coresused")}

        def key(c: Any) -> tuple[int, int]:
            ip = self._ip(c)
            return (1 if ip in busy else 0, -int(c.labels.get(LABEL_NUMBER, 0)))

        return sorted(current, key=key)

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

    def _jmx(self, query: str) -> dict | None:
        ui = self.namenode_ui()
        if ui is None:
            return None
        try:
            beans = spark_api.fetch_json(ui + query).get("beans") or []
        except (OSError, ValueError, urllib.error.URLError):
            return None
        return beans[0] if beans else None

    def live_datanodes(self) -> int | None:
        bean = self._jmx(NN_STATE_QUERY)
        return int(bean.get("NumLiveDataNodes", 0)) if bean else None

    def _storage_status(self) -> StorageStatus:
        state = self._jmx(NN_STATE_QUERY)
        info = self._jmx(NN_INFO_QUERY)
        replication = int(self._saved().get("HS_HDFS_REPLICATION", "1"))
        if state is None:
            return StorageStatus(kind="hdfs", uri=HDFS_URI, replication=replication, detail="NameNode JMX not answering")
        safemode = bool(info.get("Safemode")) if info else None
        live = int(state.get("NumLiveDataNodes", 0))
        return StorageStatus(kind="hdfs", uri=HDFS_URI, writable=live > 0 and not safemode, live_datanodes=live,
                             safemode=safemode, replication=replication,
                             detail=f"{state.get('FSState', '?')}, {state.get('FilesTotal', '?')} files")

    # -- data --------------------------------------------------------------------------
    def upload(self, src: Path, dest: str | None = None, force: bool = False) -> UploadResult:
        src = Path(src)
        if not src.is_file():
            raise OpsError(f"no such file: {src}")
        path = parse_hdfs_path(dest) if dest else f"/data/{src.name}"
        if dest and dest.endswith("/"):
            path = posixpath.join(path, src.name)
        namenode = self._one("namenode")
        started = time.monotonic()
        checksum = sha256_file(src)
        size = src.stat().st_size
        live = self.live_datanodes() or 0
        if live < 1:
            raise OpsError("HDFS has no live DataNode: wait for the datanode containers (hyperspark status)")
        replication = max(1, min(int(self._saved().get("HS_HDFS_REPLICATION", "1")), live))
        staging = f"hyperspark-upload-{secrets.token_hex(4)}"
        with tar_single_file(f"{staging}/{src.name}", src=src, uid=1000) as stream:
            if not namenode.put_archive("/tmp", stream):
                raise OpsError("could not copy the file into the namenode container")
        script = r"""
set -u
local_file="/tmp/$STAGING/$NAME"; tmp="$DEST._COPYING_hyperspark-$STAGING"
trap 'rm -rf "/tmp/$STAGING"; hdfs dfs -rm -f -skipTrash "$tmp" >/dev/null 2>&1 || true' EXIT
if hdfs dfs -test -e "$DEST" 2>/dev/null; then
  if [ "$FORCE" != 1 ]; then echo "HYPERSPARK_EXISTS"; exit 3; fi
fi
hdfs dfs -mkdir -p "$(dirname "$DEST")" || exit 1
hdfs dfs -D dfs.replication="$REPL" -put -f "$local_file" "$tmp" || exit 1
if [ "$FORCE" = 1 ]; then hdfs dfs -rm -f -skipTrash "$DEST" >/dev/null 2>&1 || true; fi
hdfs dfs -mv "$tmp" "$DEST" || exit 1
echo "HYPERSPARK_SHA256 $(hdfs dfs -cat "$DEST" | sha256sum | cut -d' ' -f1)"
"""
        env = {"STAGING": staging, "NAME": src.name, "DEST": path, "FORCE": "1" if force else "0",
               "REPL": str(replication)}
        result = self.exec(namenode, ["bash", "-c", script], env=env)
        if "HYPERSPARK_EXISTS" in result.output:
            raise OpsError(f"hdfs://namenode:8020{path} exists: pass --force to overwrite it")
        if result.exit_code != 0:
            raise OpsError(f"upload to HDFS failed: {_last_error(result.output)}")
        match = re.search(r"HYPERSPARK_SHA256 ([0-9a-f]{64})", result.stdout)
        if not match or match.group(1) != checksum:
            raise OpsError(f"upload of {src} is not byte-exact: sha256 read back from HDFS differs")
        return UploadResult(src=str(src), dest=HDFS_URI + path, bytes=size, checksum=checksum,
                            seconds=time.monotonic() - started)

    def read_text(self, uri: str) -> str:
        if uri.startswith("file://"):
            result = self.exec(self._one("tools"), ["cat", uri[len("file://"):]])
        else:
            result = self.exec(self._one("namenode"), ["hdfs", "dfs", "-cat", parse_hdfs_path(uri)])
        if result.exit_code != 0:
            raise OpsError(f"cannot read {uri}: {_last_error(result.output)}")
        return result.stdout

    # -- jobs --------------------------------------------------------------------------
    def submit(
        self,
        spec_path: Path,
        run_id: str | None = None,
        resume: bool = False,
        conf: dict[str, str] | None = None,
        on_line: LineSink | None = None,
        overrides: list[str] | None = None,
    ) -> SubmitResult:
        spec_path = Path(spec_path)
        if not spec_path.is_file():
            raise OpsError(f"no such spec file: {spec_path}")
        tools = self._tools()
        run_id = run_id or _new_run_id()
        remote_spec = self.put_file(tools, spec_path, f"{SPEC_DIR}/{run_id}")
        argv = ["spark-submit", "--master", MASTER_URL]
        for key, value in (conf or {}).items():
            argv += ["--conf", f"{key}={value}"]
        argv += [JOB_SCRIPT, remote_spec, "--run-id", run_id]
        if resume:
            argv.append("--resume")
        overrides = list(overrides or [])
        if not any(item.startswith("output=") for item in overrides) and not _spec_output_is_hdfs(spec_path):
            # a host path means nothing inside the cluster: results go to the stack's HDFS
            overrides.append(f"output={DEFAULT_OUTPUT}")
        for item in overrides:
            argv += ["--set", item]
        return self._run_driver(tools, argv, run_id, on_line)

    def spark_submit(self, script: Path, args: list[str] | None = None, on_line: LineSink | None = None,
                     conf: dict[str, str] | None = None) -> ExecResult:
        """Run any PySpark script with spark-submit from the tools container (inside the network)."""
        tools = self._tools()
        remote = self.put_file(tools, Path(script), f"{SPEC_DIR}/scripts-{secrets.token_hex(3)}")
        argv = ["spark-submit", "--master", MASTER_URL]
        for key, value in (conf or {}).items():
            argv += ["--conf", f"{key}={value}"]
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

    def _run_driver(self, tools: Any, argv: list[str], run_id: str, on_line: LineSink | None) -> SubmitResult:
        result: dict | None = None

        def sink(line: str) -> None:
            nonlocal result
            if line.startswith("HYPERSPARK_RESULT "):
                try:
                    result = json.loads(line.split(" ", 1)[1])
                except ValueError:
                    result = None
            if on_line:
                on_line(line)

        self.state.logs_dir.mkdir(parents=True, exist_ok=True)
        log = self.state.logs_dir / f"driver-{run_id}.log"
        started = time.monotonic()
        done = self.exec(tools, argv, on_line=sink, log=log)
        write_atomic(self.state.log_file("driver"), log.read_text(errors="replace"))
        output_uri = (result or {}).get("output_uri", "")
        summary = None
        if done.exit_code == 0 and result is not None:
            self.state.record_run(run_id, output_uri)
            try:
                summary = json.loads(self.read_text(output_uri.rstrip("/") + "/summary.json"))
            except (OpsError, ValueError):
                summary = result
        return SubmitResult(run_id=run_id, output_uri=output_uri, exit_code=done.exit_code,
                            seconds=time.monotonic() - started, summary=summary)

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
            checks.append(Check("docker", True, f"engine {version.get('Version')} (API {version.get('ApiVersion')})"))
        except OpsError as exc:
            return [Check("docker", False, str(exc))]
        try:
            checks.append(Check("compose", True, " ".join(compose_command())))
        except OpsError as exc:
            checks.append(Check("compose", False, str(exc)))
        try:
            status = self.status()
        except OpsError as exc:
            return checks + [Check("cluster", False, str(exc))]
        alive = len(status.alive_workers)
        expected = len(self.containers("spark-worker"))
        checks.append(Check("master", status.master_state == "ALIVE", f"{status.master_state} at {status.master_ui}"))
        checks.append(Check("workers", alive == expected and alive > 0, f"{alive} ALIVE of {expected} containers"))
        st = status.storage
        if st is not None:
            checks.append(Check("hdfs safemode", st.safemode is False, "off" if st.safemode is False else "on/unknown"))
            ok = st.live_datanodes is not None and st.replication is not None and st.live_datanodes >= st.replication
            checks.append(Check("datanodes", ok, f"{st.live_datanodes} live, replication {st.replication}"))
        checks.append(self._check_python())
        return checks

    def _check_python(self) -> Check:
        versions = {}
        for c in self.containers("tools")[:1] + self.containers("spark-worker"):
            res = self.exec(c, ["python", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
            versions[c.name] = res.stdout.strip()
        same = len(set(versions.values())) == 1
        return Check("python", same and bool(versions), ", ".join(f"{k}={v}" for k, v in versions.items()) or "none")


def _spec_output_is_hdfs(spec_path: Path) -> bool:
    """True when the spec's ``output`` already names HDFS (the job validates the rest itself)."""
    try:
        import yaml

        data = yaml.safe_load(spec_path.read_text())
    except Exception:  # noqa: BLE001 - an unreadable spec is reported by the job, with the key
        return True
    output = data.get("output") if isinstance(data, dict) else None
    return isinstance(output, str) and output.startswith("hdfs://")


def _new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def _is_noise(line: str) -> bool:
    return bool(re.match(r"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )(WARN|INFO) ", line))


def _last_error(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not _is_noise(ln)]
    return lines[-1] if lines else "no output"
