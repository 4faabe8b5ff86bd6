"""The wheel works without the source tree: build it, install it into fresh venvs, and use it from a
directory outside the checkout.

* core install (``pip install hyperspark``): ``hyperspark.tune`` on ``local[2]`` with a scikit-learn model on
  the data set the wheel bundles; the ``hyperspark`` command says in one line that it needs the ops extra;
  issue 24's first run: no session, the venv NOT on PATH and a ``python3`` first on PATH that exits 1
  (a script run by its absolute path: cron, IDEs, a kernelspec): ``tune`` builds a session whose workers
  run this venv's interpreter and prints the result;
* ``pip install 'hyperspark[ops]'``: ``hyperspark --help``, ``hyperspark doctor`` (no cluster is up), and
  ``up``, ``submit`` (the shipped example spec and data) and ``down`` on the local target.

Each venv is made by ``python -m venv`` with its own pip and no view of this environment's site-packages;
the wheel's dependencies come from the configured index (pip's cache makes a second install quick). The
wheel is built once per module, each venv once per module.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.cluster_fixtures import cluster_ports, spark_missing
from tests.paths import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

SPACE_DEPTHS = [2, 4]
TRIALS = 4


def _env(**extra: str) -> dict[str, str]:
    """This environment minus what would point a child at the checkout's interpreter or packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.pop("HADOOP_HOME", None)
    return {**env, "SPARK_LOCAL_IP": "127.0.0.1", **extra}


def _run(argv: list[str], timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", _env())
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def _fresh_venv(where: Path, requirement: str) -> Path:
    venv = where / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    py = str(venv / "bin" / "python")
    isolated = _run([py, "-c", "import sys; print(sys.prefix != sys.base_prefix)"])
    assert isolated.stdout.strip() == "True"
    installed = _run([py, "-m", "pip", "install", "-q", requirement], timeout=1200)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    dist = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(REPO), "-w", str(dist)])
    assert built.returncode == 0, built.stderr
    [whl] = dist.glob("hyperspark-*.whl")
    return whl


@pytest.fixture(scope="module")
def core_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fresh_venv(tmp_path_factory.mktemp("core"), str(wheel))


@pytest.fixture(scope="module")
def ops_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _fresh_venv(tmp_path_factory.mktemp("ops"), f"{wheel}[ops]")


TUNE_SCRIPT = textwrap.dedent(f"""
    import json, sys
    from pathlib import Path

    import pandas as pd
    from pyspark.sql import SparkSession

    import hyperspark

    data = Path(hyperspark.__file__).parent / "ops" / "_data" / "examples" / "data" / "breast_cancer.csv"
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1").getOrCreate())
    r = hyperspark.tune(model="sklearn.random_forest", data=pd.read_csv(data), label="target",
                        space={{"n_estimators": hyperspark.randint(5, 20), "max_depth": {SPACE_DEPTHS},
                               "max_features": hyperspark.uniform(0.3, 1.0)}},
                        search="random", trials={TRIALS}, metric="roc_auc", cv_folds=3, seed=1,
                        output=Path("runs").resolve().as_uri(), progress=False)
    print(json.dumps({{"best_params": r.best_params, "best_score": r.best_score, "test_metrics": r.test_metrics,
                      "trials": len(r.trials), "configs": r.trials["trial_id"].nunique(), "data": str(data),
                      "module": hyperspark.__file__, "summary": Path(r.output_uri[len("file://"):], "summary.json")
                      .is_file()}}))
    spark.stop()
""")


def test_core_install_tunes_on_local_spark_outside_the_checkout(core_venv: Path, tmp_path: Path) -> None:
    (tmp_path / "tune_it.py").write_text(TUNE_SCRIPT)
    py = str(core_venv / "bin" / "python")
    done = _run([py, "tune_it.py"], cwd=tmp_path, env=_env(PYSPARK_PYTHON=py, PYSPARK_DRIVER_PYTHON=py))
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    for path in (r["module"], r["data"]):
        assert path.startswith(str(core_venv)), path  # the wheel's code and its bundled data, not the tree
    best = r["best_params"]
    assert set(best) == {"n_estimators", "max_depth", "max_features"}
    assert isinstance(best["n_estimators"], int) and 5 <= best["n_estimators"] <= 20
    assert best["max_depth"] in SPACE_DEPTHS and 0.3 <= best["max_features"] <= 1.0
    assert 0.8 < r["best_score"] <= 1.0 and 0.8 < r["test_metrics"]["roc_auc"] <= 1.0
    assert r["trials"] == r["configs"] == TRIALS and r["summary"] is True


ISSUE_24 = textwrap.dedent("""
    import hyperspark
    from sklearn.datasets import load_breast_cancer
    df = load_breast_cancer(as_frame=True).frame
    r = hyperspark.tune(model="sklearn.random_forest", space={"n_estimators": [10, 20]}, data=df,
                        label="target", search="grid", metric="roc_auc")
    print(r)
""")


def test_core_install_tunes_from_a_venv_that_is_not_on_path(core_venv: Path, tmp_path: Path) -> None:
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "python3").write_text("#!/bin/sh\nexit 1\n")
    (stub / "python3").chmod(0o755)
    env = _env(PATH=f"{stub}:{os.environ['PATH']}")
    for k in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
        env.pop(k, None)
    done = _run([str(core_venv / "bin" / "python"), "-c", ISSUE_24], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("Result(run_id=") and "roc_auc=" in last and last.endswith("trials=2)"), done.stdout


def test_core_install_command_asks_for_the_ops_extra(core_venv: Path, tmp_path: Path) -> None:
    done = _run([str(core_venv / "bin" / "hyperspark"), "--help"], cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("hyperspark: error: the hyperspark command needs the ops extra (missing module '")
    assert line.endswith("): pip install 'hyperspark[ops]'")


def test_ops_install_help_and_doctor_on_a_machine_without_a_cluster(ops_venv: Path, tmp_path: Path) -> None:
    cli = str(ops_venv / "bin" / "hyperspark")
    helped = _run([cli, "--help"], cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    for command in ("up", "down", "submit", "doctor"):
        assert f"  {command} " in helped.stdout or f"  {command}\n" in helped.stdout, command

    doctor = _run([cli, "--state-dir", str(tmp_path / "state"), "doctor"], cwd=tmp_path)
    # no cluster is up here: the workers check fails, so doctor exits 1 after printing every check
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    verdicts = {}
    for line in doctor.stdout.splitlines():
        mark, _, rest = line.partition(" ")
        if mark in ("OK", "FAIL"):
            verdicts[rest.strip()[:16].strip()] = (mark, rest)
    assert {"java", "python", "ports", "workers", "storage"} <= set(verdicts), doctor.stdout
    assert verdicts["workers"][0] == "FAIL" and "no cluster is running" in verdicts["workers"][1]
    assert verdicts["python"][0] == "OK" and verdicts["storage"][0] == "OK"
    assert "check(s) failed" in doctor.stderr and "workers" in doctor.stderr


def test_ops_install_up_submit_down_outside_the_checkout(ops_venv: Path, tmp_path: Path) -> None:
    py, cli = str(ops_venv / "bin" / "python"), str(ops_venv / "bin" / "hyperspark")
    where = _run([py, "-c", "import hyperspark.ops, hyperspark.job; from hyperspark.ops import resources;"
                  "print(hyperspark.ops.__file__); print(hyperspark.job.__file__);"
                  "print(resources.find('examples/breast_cancer_sklearn.yaml'))"], cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    ops_file, job_file, example = where.stdout.split()
    for path in (ops_file, job_file, example):
        assert path.startswith(str(ops_venv)), path  # nothing from the source tree

    ports = cluster_ports()
    env = _env(HYPERSPARK_DRIVER_UI_PORT=str(ports["driver_ui_port"]))
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
    # the JVM class-data archive is made once per machine right after `up`: its dump may still run here
    assert sorted(set(json.loads(down.stdout)["stopped"]) - {"jvm-archive"}) == ["history", "master", "worker-1"]
