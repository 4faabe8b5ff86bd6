"""The wheel works without the source tree: build it, install it into a fresh venv, and run `up`,
`submit` (the shipped example spec and data) and `down` on the local target from a directory
outside the checkout.

The fresh venv gets the wheel only; its third-party dependencies (pyspark, scikit-learn ...) come
from this environment's site-packages through a ``.pth`` path line, which adds the directory to
``sys.path`` without running the editable install's hooks: ``hyperspark.ops`` and ``hyperspark.job``
are importable only from the wheel.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.integration.cluster_fixtures import cluster_ports, spark_missing

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(REPO), "-w", str(tmp / "dist")])
    assert built.returncode == 0, built.stderr
    wheel = next((tmp / "dist").glob("hyperspark-*.whl"))
    venv = tmp / "venv"
    assert _run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    installed = _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                      "--no-deps", "--no-index", "-q", str(wheel)])
    assert installed.returncode == 0, installed.stderr
    site = Path(_run([str(venv / "bin" / "python"), "-c",
                      "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "hyperspark-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_wheel_up_submit_down_outside_the_checkout(wheel_venv: Path, tmp_path: Path) -> None:
    py, cli = str(wheel_venv / "bin" / "python"), str(wheel_venv / "bin" / "hyperspark")
    where = _run([py, "-c", "import hyperspark.ops, hyperspark.job; from hyperspark.ops import resources;"
                  "print(hyperspark.ops.__file__); print(hyperspark.job.__file__);"
                  "print(resources.find('examples/breast_cancer_sklearn.yaml'))"], cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    ops_file, job_file, example = where.stdout.split()
    for path in (ops_file, job_file, example):
        assert path.startswith(str(wheel_venv)), path  # nothing from the source tree

    ports = cluster_ports()
    env = {**os.environ, "HYPERSPARK_DRIVER_UI_PORT": str(ports["driver_ui_port"])}
    env.pop("HADOOP_HOME", None)
    state = ["--state-dir", str(tmp_path / "state")]
    try:
        up = _run([cli, *state, "up", "--workers", "1", "--no-hdfs", "--master-port", str(ports["master_port"]),
                   "--ui-port", str(ports["ui_port"]), "--worker-ui-port", str(ports["worker_ui_port"]),
                   "--history-ui-port", str(ports["history_ui_port"])],
                  cwd=tmp_path, env=env)
        assert up.returncode == 0, up.stderr
        sub = _run([cli, *state, "submit", example, "--run-id", "wheel-1", "--json",
                    "--set", f"output={(tmp_path / 'runs').as_uri()}"], cwd=tmp_path, env=env)
        assert sub.returncode == 0, sub.stderr[-2000:]
        result = json.loads(sub.stdout)
        assert result["summary"]["run_id"] == "wheel-1"
        assert 0.5 < result["summary"]["test_metrics"]["roc_auc"] <= 1.0
        assert (tmp_path / "runs" / "wheel-1" / "summary.json").is_file()
    finally:
        down = _run([cli, *state, "down", "--json"], cwd=tmp_path, env=env)
    assert down.returncode == 0, down.stderr
    assert sorted(json.loads(down.stdout)["stopped"]) == ["history", "master", "worker-1"]
