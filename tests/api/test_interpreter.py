"""Which Python the executors run, tried as a user would: plain Python drivers (subprocesses, so each has
its own SparkContext and environment) with a session THEY built.

* a session built with a wrong ``PYSPARK_PYTHON`` (a stub that exits 1): one JobError line, a short stderr;
* a plain driver on a REAL standalone cluster (``local_cluster``) with ``PYSPARK_PYTHON`` unset, so
  executors run ``python3`` from their PATH (``spark.executorEnv.PATH`` puts ours first):
  - that ``python3`` has the libraries but not HyperSpark: ``tune`` ships the job's package itself, and a
    class from a throwaway module on ``sys.path`` (not installed) ships by value: the run works;
  - that ``python3`` is the stub: one JobError line naming the executor, the interpreter and the fix.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.paths import EXAMPLES

pytestmark = [pytest.mark.spark]

DATA = EXAMPLES / "data" / "breast_cancer.csv"

DRIVER = textwrap.dedent("""
    import logging, os, sys
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    for name in ("py4j", "py4j.clientserver", "py4j.java_gateway"):
        logging.getLogger(name).setLevel(logging.WARNING)
    master, out, extra_path = sys.argv[1:4]
    from pyspark.sql import SparkSession

    b = (SparkSession.builder.master(master).config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1"))
    if extra_path:  # the workers' own PATH: which python3 their executors find
        b = b.config("spark.executorEnv.PATH", extra_path + ":" + os.environ["PATH"])
    spark = b.getOrCreate()
    import pandas as pd
    import hyperspark

    estimator = None
    if len(sys.argv) > 4:  # a class from a throwaway module on sys.path, not installed anywhere
        sys.path.insert(0, sys.argv[4])
        from throwaway_model import Centroid
        estimator = Centroid()
    try:
        r = hyperspark.tune(model=None if estimator else "sklearn.decision_tree", estimator=estimator,
                            space={"shrink": [0.0, 0.5]} if estimator else {"max_depth": [2, 3]},
                            data=pd.read_csv(DATA), label="target", search="grid", metric="accuracy",
                            output=out, progress=False)
        print("RESULT", r.summary.search.ok, sorted(set(r.trials["executor_id"])), r.summary.model)
    except hyperspark.JobError as e:
        print("JOBERROR", e)
    spark.stop()
""").replace("DATA", repr(str(DATA)))

THROWAWAY = textwrap.dedent("""
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Centroid(BaseEstimator, ClassifierMixin):
        def __init__(self, shrink=0.0):
            self.shrink = shrink

        def fit(self, X, y):
            self.classes_ = np.unique(y)
            mean = X.mean(axis=0)
            self.c_ = np.array([(1 - self.shrink) * X[y == c].mean(axis=0) + self.shrink * mean
                                for c in self.classes_])
            return self

        def predict(self, X):
            return self.classes_[((X[:, None, :] - self.c_[None]) ** 2).sum(-1).argmin(1)]
""")

#: put first on sys.path by the wrapper: this interpreter with everything but HyperSpark (until shipped)
NO_HYPERSPARK = textwrap.dedent("""
    import sys

    class _NoHyperSpark:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "hyperspark" and not any(
                    p.endswith(".zip") and "hyperspark-" in p for p in sys.path):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NoHyperSpark())
""")


def _bin(tmp_path: Path, name: str, body: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    exe = d / "python3"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(0o755)
    return d


def _drive(tmp_path: Path, master: str, extra_path: str = "", *args: str, **env: str):
    (tmp_path / "driver.py").write_text(DRIVER)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON",
                                                              "PYTHONPATH", "SPARK_CONNECT_MODE_ENABLED")}
    return subprocess.run([sys.executable, str(tmp_path / "driver.py"), master, str(tmp_path / "runs"),
                           extra_path, *args], env={**clean, "SPARK_LOCAL_IP": "127.0.0.1", **env},
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def _one_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [x for x in done.stdout.splitlines() if x.startswith(("JOBERROR", "RESULT"))]
    assert line.startswith("JOBERROR "), done.stdout[-2000:]
    # no wall of traces: the JVM's few start-up lines at most (and the user's console progress bar)
    lines = [x for x in done.stderr.splitlines() if x.strip() and not x.strip().startswith("[Stage ")]
    assert "Traceback" not in done.stderr and len(lines) <= 6, done.stderr[-3000:]
    return line.removeprefix("JOBERROR ")


def test_a_wrong_pyspark_python_is_one_line(tmp_path):
    stub = _bin(tmp_path, "stub", "exit 1") / "python3"
    msg = _one_error(_drive(tmp_path, "local[2]", "", PYSPARK_PYTHON=str(stub)))
    where, _, rest = msg.partition("): ")
    assert where.startswith("executor driver (")  # local[2]: the driver's own executor, on its host
    assert rest == (f"its Python worker ({stub}) exited as soon as it started; "
                   f"create the session with PYSPARK_PYTHON={sys.executable} (os.environ['PYSPARK_PYTHON'] "
                   "before SparkSession.builder...getOrCreate(); spark-submit: --conf spark.pyspark.python=...), "
                   "or install it in the executors' Python")


@pytest.mark.cluster
def test_plain_driver_on_a_cluster_ships_hyperspark_and_a_local_class(local_cluster, tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(NO_HYPERSPARK)
    wrapper = _bin(tmp_path, "venv-minus-hyperspark", f'PYTHONPATH={hide}:$PYTHONPATH exec {sys.executable} "$@"')
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "throwaway_model.py").write_text(THROWAWAY)
    done = _drive(tmp_path, local_cluster.master_url, str(wrapper), str(tmp_path / "mods"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "has no HyperSpark: shipped the job's package (" in done.stdout, done.stdout[-3000:]
    [line] = [x for x in done.stdout.splitlines() if x.startswith(("JOBERROR", "RESULT"))]
    assert line.startswith("RESULT 2 ['"), done.stdout[-3000:]
    executors = ast.literal_eval(line.split(" ", 2)[2].rsplit(" ", 1)[0])
    assert executors and all(e.isdigit() for e in executors)  # real executors ran the trials
    assert line.rsplit(" ", 1)[1].startswith("object:estimator.Centroid-")


@pytest.mark.cluster
def test_plain_driver_on_a_cluster_whose_python3_is_broken_is_one_line(local_cluster, tmp_path):
    stub = _bin(tmp_path, "stub", "exit 1")
    msg = _one_error(_drive(tmp_path, local_cluster.master_url, str(stub)))
    assert msg.startswith("executor ") and " (127.0.0.1): its Python worker (python3) exited as soon as it started; " in msg
    assert f"create the session with PYSPARK_PYTHON={sys.executable} " in msg
