"""Fixtures for the live compose tests: a real Docker engine, the real compose.yaml, real images.

Nothing is decided at import time: whether an engine is reachable is checked when a test first asks
for it, and the tests skip with the exact reason (no engine, no compose v2, no base image). The stack
is one compose project per test session (``hyperspark-test-<pid>``), always removed with its volumes at the
end, also when a test fails.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGES = ("debian:bookworm-slim", "apache/hadoop:3.4.1")



def _port_range() -> range:
    """HYPERSPARK_TEST_PORT_RANGE=LO-HI (as for the other fixtures), default 19000-19999."""
    lo, _, hi = os.environ.get("HYPERSPARK_TEST_PORT_RANGE", "19000-19999").partition("-")
    return range(int(lo), int(hi) + 1)


def _engine_problem() -> str | None:
    """None when a Docker engine + compose v2 + the base images are there, else what is missing."""
    try:
        import docker
    except ImportError:
        return "the `docker` Python package is not installed (pip install 'hyperspark[dev]')"
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no engine to test against
        return f"no Docker engine reachable ({type(exc).__name__}); run .ci/provision-docker.sh"
    docker_cli = shutil.which("docker")
    if not docker_cli or subprocess.run([docker_cli, "compose", "version"], capture_output=True).returncode != 0:
        return "docker compose v2 is not installed; run .ci/provision-docker.sh"
    for image in BASE_IMAGES:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            return f"base image {image} is absent and cannot be pulled here; run .ci/provision-docker.sh"
    return None


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    for port in _port_range():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"no {count} free ports in {_port_range()}")


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = _engine_problem()
    if problem:
        pytest.skip(problem)


def _remove_leftovers(project: str) -> None:
    """Belt and braces after `compose down -v`: containers, networks, volumes with our project label."""
    import docker

    client = docker.from_env(timeout=60)
    label = {"label": f"com.docker.compose.project={project}"}
    for c in client.containers.list(all=True, filters=label):
        c.remove(force=True)
    for n in client.networks.list(filters=label):
        n.remove()
    for v in client.volumes.list(filters=label):
        v.remove(force=True)


@pytest.fixture(scope="session")
def compose_stack(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator["ComposeTarget"]:
    """The real stack: 1 worker, 2 DataNodes, tools container; down -v at the end whatever happens."""
    from hyperspark_ops.targets.compose import ComposeTarget

    project = f"hyperspark-test-{os.getpid()}"
    state = tmp_path_factory.mktemp("compose-state")
    target = ComposeTarget(state, project=project, file=REPO / "compose.yaml")
    master, ui, nn, nn_ui, driver, history, mlflow, *workers = _free_ports(7 + 8 + 4)
    # Not (yet) settings of the CLI: passed to compose through the environment it inherits.
    saved_env = {var: os.environ.get(var) for var in ("HS_HISTORY_UI_PORT", "HS_MLFLOW_PORT")}
    os.environ["HS_HISTORY_UI_PORT"] = str(history)
    os.environ["HS_MLFLOW_PORT"] = str(mlflow)
    target.configure(master_port=master, ui_port=ui, namenode_port=nn, namenode_ui_port=nn_ui,
                     driver_ui_port=driver, worker_ui_ports=f"{workers[0]}-{workers[7]}",
                     datanode_ui_ports=f"{workers[8]}-{workers[11]}", datanodes=2, replication=2)
    try:
        # Always build: cached layers make it quick, and it guarantees the images hold THIS checkout.
        target.build()
        target.up(workers=1)
        yield target
    finally:
        try:
            target.down(purge=True)
        finally:
            _remove_leftovers(project)
            for var, value in saved_env.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value
