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
from __future__ import annotations

import dataclasses
import os
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

from hyperspark.ops import gpus, spark_api
from hyperspark.ops.hdfs import jmx as nn_jmx
from hyperspark.ops.hdfs import upload as hdfs_upload
from hyperspark.ops.hdfs.paths import upload_path
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
from hyperspark.ops.targets.base import Target
from hyperspark.ops.targets.compose.engine import (
    LABEL_NUMBER,
    LABEL_PROJECT,
    LABEL_SERVICE,
    ExecResult,
    compose_command,
    compose_file,
    exec_in,
    read_dotenv,
    tar_single_file,
)
from hyperspark.ops.targets.compose.hdfs import HDFS_URI, parse_hdfs_path, upload_by_exec, webhdfs_storage
from hyperspark.ops.targets.compose.settings import ComposeSettings
from hyperspark.ops.targets.request import DriverOutput, DriverRequest
from hyperspark.ops.util.files import write_atomic

ENV_PROJECT = "HYPERSPARK_COMPOSE_PROJECT"
DEFAULT_PROJECT = "hyperspark"
MASTER_URL = "spark://spark-master:7077"
JOB_SCRIPT = "/opt/hyperspark/jobs/tune.py"
SPEC_DIR = "/opt/hyperspark/work/specs"
DEFAULT_OUTPUT = HDFS_URI + "/hyperspark/runs"


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
        return exec_in(self.client().api, container, cmd, env, on_line, log)

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
        """WebHDFS through the published ports (None when a DataNode's port is not published)."""
        return webhdfs_storage(self.namenode_ui(), self.containers("datanode"), replication)

    def _upload_by_exec(self, namenode: Any, src: Path, path: str, force: bool, replication: int) -> UploadResult:
        return upload_by_exec(self.exec, namenode, src, path, force, replication)

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
        request = dataclasses.replace(request, overrides=overrides)
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
        checks.append(gpus.gpus_check(status.workers))  # informational: the gpu profile's workers advertise them
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


def _spec_output_is_hdfs(spec_path: Path) -> bool:
    """True when the spec's ``output`` already names HDFS (the job validates the rest itself)."""
    try:
        from hyperspark.job import yaml_load  # the one loader: aliases and duplicate keys refused

        data = yaml_load.load(spec_path.read_text())
    except Exception:  # noqa: BLE001 - an unreadable spec is reported by the job, with the key
        return True
    output = data.get("output") if isinstance(data, dict) else None
    return isinstance(output, str) and output.startswith("hdfs://")
