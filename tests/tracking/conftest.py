"""A REAL MLflow tracking server for the tracking tests: ``mlflow server`` on a free 127.0.0.1 port,
sqlite backend and artifacts in the session's tmp dir, started once per session (lazily, only when a
test asks for it) and stopped by its pid (its own process group) even when tests fail."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.ports import free_port


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's own process group (its pid; uvicorn and huey job consumers are in it), then
    SIGKILL whatever of that group is left after 20 s."""
    pgid = proc.pid
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (proc.poll() is None or _group_alive(pgid)):
        time.sleep(0.2)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=10)


@contextlib.contextmanager
def running_server(root: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real ``mlflow server`` on a free 127.0.0.1 port, sqlite + artifacts under ``root``; stopped on exit."""
    import requests

    port = free_port()
    log = open(root / "server.log", "wb")
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", str(root / "artifacts"), "--workers", "1"]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                tail = (root / "server.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{tail}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer /health within 180 s")
            time.sleep(0.5)
        yield url, proc
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install -e .[tracking] or .[dev])")
    with running_server(tmp_path_factory.mktemp("mlflow")) as (url, _):
        yield url
