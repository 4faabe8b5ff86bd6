"""hyperspark.job.preflight (the pre-search import check's driver side) and usercode's by-value rule,
without Spark: the probe itself, what a trial imports, and the one line for each way executors fail."""
from __future__ import annotations

import importlib
import json
import sys
import uuid

from sklearn.linear_model import LogisticRegression

from hyperspark.job import preflight as P
from hyperspark.job import usercode as U
from hyperspark.job.spec import parse_spec


def test_the_probe_runs_by_value_and_reports_what_it_cannot_import():
    from pyspark import cloudpickle

    task = P._probe_namespace()["classic_task"](["json", "no_such_module_xyz"])
    blob = cloudpickle.dumps(task)
    assert b"hyperspark" not in blob  # a worker without HyperSpark can unpickle and run it
    [info] = [json.loads(x) for x in cloudpickle.loads(blob)(iter([]))]
    assert info["python"] == sys.executable and info["executor"] == "driver"
    assert info["missing"] == {"no_such_module_xyz": ["no_such_module_xyz",
                                                      "ModuleNotFoundError: No module named 'no_such_module_xyz'"]}


def test_what_trials_import():
    spec = parse_spec({"name": "x", "dataset": {"uri": "file:///d.csv", "label": "y"}, "model": "sklearn.random_forest",
                       "space": {"max_depth": [2]}, "output": "file:///tmp/o"})
    assert P.trial_modules(spec) == ["hyperspark.job.executors.trial", "sklearn.ensemble"]
    assert P.trial_modules(spec, connect=True)[1:3] == ["pandas", "pyarrow"]
    key = U.register(LogisticRegression(), "estimator")  # installed: by reference, so imported there
    spec = spec.model_copy(update={"model": key})
    assert P.trial_modules(spec)[-1] == "sklearn.linear_model._logistic"


def test_a_local_module_ships_by_value_an_installed_one_by_reference(tmp_path, monkeypatch):
    name = f"hs_local_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("from sklearn.linear_model import Ridge\nclass Mine(Ridge):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    Mine = importlib.import_module(name).Mine
    assert U.local_package(Mine()) == name and U.local_package(LogisticRegression()) is None
    blob = U.payload(U.register(Mine(alpha=3.0), "estimator"))
    del sys.modules[name]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    from pyspark import cloudpickle

    assert cloudpickle.loads(blob).alpha == 3.0  # rebuilt without the module
    assert name not in cloudpickle.list_registry_pickle_by_value()  # registered for that one pickle only


def test_one_line_per_failure():
    info = {"executor": "3", "host": "w1", "python": "/usr/bin/python3", "version": "3.11.2", "missing": {}}
    line = P.missing_line(info, "sklearn", "sklearn.ensemble", "ModuleNotFoundError: No module named 'sklearn'")
    assert line == ("executor 3 (w1) cannot import 'sklearn' for the trials: its Python /usr/bin/python3 (Python "
                    "3.11.2) says ModuleNotFoundError: No module named 'sklearn'; create the session with "
                    f"PYSPARK_PYTHON={sys.executable} (os.environ['PYSPARK_PYTHON'] before SparkSession.builder"
                    "...getOrCreate(); spark-submit: --conf spark.pyspark.python=...), or install it in the "
                    "executors' Python")
    crash = RuntimeError("Job aborted due to stage failure: Task 0 in stage 0.0 failed 4 times, most recent failure: "
                         "Lost task 0.3 in stage 0.0 (TID 3) (127.0.0.1 executor 1): org.apache.spark.SparkException"
                         ": Python worker exited unexpectedly (crashed)\n\tat org.apache...")
    assert P.failed_line(crash, "python3").startswith(
        "executor 1 (127.0.0.1): its Python worker (python3) exited as soon as it started; create the session with ")
    missing = RuntimeError("... (h executor 0): PythonException: ModuleNotFoundError: No module named 'pyarrow' ...")
    assert P.failed_line(missing, "x", connect=True).startswith(
        "executor 0 (h): its Python worker (x) cannot import 'pyarrow'; ship it with py_files")
