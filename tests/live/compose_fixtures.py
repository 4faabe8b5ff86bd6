"""Fixtures for the live compose tests: a real Docker engine, the real compose.yaml, real images.

Nothing is decided at import time: whether an engine is reachable is checked when a test first asks
for it, and the tests skip with the exact reason (no engine, no compose v2, no base image). The stack
is one compose project per test session (``hyperspark-test-<pid>``), always removed with its volumes at the
end, also when a test fails.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Iterator

import pytest

from tests.paths import REPO
from tests.ports import free_port_block

BASE_IMAGES = ("debian:bookworm-slim", "apache/hadoop:3.4.1")



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
    """The real stack from the real compose.yaml, started by testcontainers' DockerCompose (build, up,
    healthchecks decide readiness, down -v at the end whatever happens): 1 worker, 2 DataNodes, the tools
    container and the connect profile's Spark Connect server. The yielded ComposeTarget drives that same
    project."""
    from testcontainers.compose import DockerCompose

    from hyperspark.ops.targets.compose import ComposeTarget

    project = f"hyperspark-test-{os.getpid()}"
    state = tmp_path_factory.mktemp("compose-state")
    base = free_port_block(8 + 8 + 4)
    master, ui, nn, nn_ui, driver, history, mlflow, connect, *workers = range(base, base + 20)
    target = ComposeTarget(state, project=project, file=REPO / "compose.yaml", master_port=master, ui_port=ui,
                           namenode_port=nn, namenode_ui_port=nn_ui, driver_ui_port=driver,
                           worker_ui_ports=f"{workers[0]}-{workers[7]}",
                           datanode_ui_ports=f"{workers[8]}-{workers[11]}", datanodes=2, replication=2,
                           worker_cores=1, worker_memory="1g")
    variables = target._settings()
    target.state.write_json(f"compose-{project}.json", variables)  # what `hyperspark up` would have saved
    # ComposeTarget.spark_submit opens logs/driver.log without creating logs/ (its own `up` does):
    # a CLI bug reported to the lead; until it is fixed, the stand-in for `up` creates it.
    target.state.logs_dir.mkdir(parents=True, exist_ok=True)
    env_file = state / "stack.env"
    # Not (yet) settings of the CLI: the history server's and MLflow's host ports, for the stack (env
    # file) and for the compose commands ComposeTarget and the tests run later (environment).
    extra_ports = {"HS_HISTORY_UI_PORT": str(history), "HS_MLFLOW_PORT": str(mlflow), "HS_CONNECT_PORT": str(connect),
                   "HS_CONNECT_IDLE_TIMEOUT": "5s"}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {
        **variables, **extra_ports, "HS_WORKERS": "1", "HS_SPARK_SECRET": target._secret()}.items()))
    # the compose CLI that DockerCompose runs reads these from the environment
    saved_env = {k: os.environ.get(k)
                 for k in ("COMPOSE_PROJECT_NAME", "DOCKER_BUILDKIT", "COMPOSE_PROFILES", *extra_ports)}
    os.environ.update(COMPOSE_PROJECT_NAME=project, DOCKER_BUILDKIT="0", **extra_ports)
    os.environ.pop("COMPOSE_PROFILES", None)
    # build=True: cached layers make it quick, and the images hold THIS checkout
    stack = DockerCompose(REPO, compose_file_name="compose.yaml", build=True, wait=True, env_file=str(env_file),
                          profiles=["tools", "connect"])
    try:
        with stack:
            target._wait_workers(1)
            yield target
    finally:
        try:
            _remove_leftovers(project)
        finally:
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
