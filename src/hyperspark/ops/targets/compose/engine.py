"""Docker plumbing of the compose target, none of it Spark-specific: where compose.yaml and the compose
binary are, the ``.env`` file compose reads, one-file tar streams for the engine's ``put_archive``, and
running a command in a container with its output streamed line by line."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperspark.ops.model import LineSink, OpsError
from hyperspark.ops.resources import compose_file as packaged_compose_file

ENV_COMPOSE_FILE = "HYPERSPARK_COMPOSE_FILE"
LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_NUMBER = "com.docker.compose.container-number"


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


def exec_in(api: Any, container: Any, cmd: list[str], env: dict[str, str] | None = None,
            on_line: LineSink | None = None, log: Path | None = None) -> ExecResult:
    """Run ``cmd`` in ``container`` through the engine ``api``; stream stdout+stderr lines to ``on_line``
    and ``log``."""
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
