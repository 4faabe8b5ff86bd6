"""A user's package on a REAL standalone cluster (the session's ``local_cluster``: master + 2 workers).

The executors run in their own work dirs with the venv's Python: they can import ``hs_testpkg`` only if it
is shipped (``tune.py --package DIR`` or spark-submit ``--py-files``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hyperspark.job.protocol import RunSummary, parse_trials

from .conftest import BREAST_CANCER, PKGS, REPO, TESTPKG

pytestmark = [pytest.mark.cluster, pytest.mark.spark]


def _submit(cluster, spec: dict, tmp_path: Path, run_id: str, *job_args: str, submit_args=(), pythonpath=None):
    import pyspark

    spec_path = tmp_path / f"{run_id}.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable, PYTHONWARNINGS="ignore::FutureWarning")
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--master", cluster.master_url,
           "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
           "--conf", "spark.ui.enabled=false", "--conf", f"spark.pyspark.python={sys.executable}",
           "--conf", f"spark.local.dir={tmp_path / 'spark-tmp'}",
           "--conf", "spark.hyperspark.expectedExecutors=2", *submit_args,
           str(REPO / "jobs" / "tune.py"), str(spec_path), "--run-id", run_id, *job_args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path)


def _spec(tmp_path: Path, **kw) -> dict:
    return {"name": "cluster", "dataset": {"uri": str(BREAST_CANCER), "label": "target"},
            "model": "hs_testpkg.models:ShrunkCentroids", "search": {"type": "grid"},
            "space": {"shrink": [0.0, 0.2, 0.5], "power": [1.0, 2.0]}, "metric": "accuracy", "cv_folds": 3,
            "seed": 5, "output": str(tmp_path / "runs"), **kw}


def test_custom_estimator_shipped_with_package_matches_gridsearchcv(local_cluster, tmp_path):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

    spec = _spec(tmp_path)
    res = _submit(local_cluster, spec, tmp_path, "pkg", "--package", str(TESTPKG))
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "runs" / "pkg"
    s = RunSummary.model_validate_json((out / "summary.json").read_text())
    rows = parse_trials((out / "trials.jsonl").read_text())
    assert s.cluster.master == local_cluster.master_url and s.cluster.executors >= 2
    assert len(rows) == 6 and {r.executor_id for r in rows} <= {"0", "1", "2", "3"}  # real executors

    sys.path.insert(0, str(PKGS))
    try:
        from hs_testpkg.models import ShrunkCentroids
    finally:
        sys.path.remove(str(PKGS))
    df = pd.read_csv(BREAST_CANCER)
    X, y = df.drop(columns="target").to_numpy(float), df["target"].to_numpy()
    X_tr, _, y_tr, _ = train_test_split(X, y, test_size=0.2, random_state=5, stratify=y)
    gs = GridSearchCV(ShrunkCentroids(random_state=5), spec["space"], scoring="accuracy",
                      cv=StratifiedKFold(3, shuffle=True, random_state=5)).fit(X_tr, y_tr)
    assert s.best_params == gs.best_params_ and s.cv_score == pytest.approx(gs.best_score_, abs=1e-12)
    by_params = {json.dumps(r.params, sort_keys=True): r for r in rows}
    for i, params in enumerate(gs.cv_results_["params"]):
        expect = [gs.cv_results_[f"split{k}_test_score"][i] for k in range(3)]
        assert by_params[json.dumps(params, sort_keys=True)].fold_scores == pytest.approx(expect, abs=1e-12)


def test_objective_shipped_with_py_files(local_cluster, tmp_path):
    from hyperspark.job.package import zip_package

    zipped = zip_package(TESTPKG, tmp_path / "dist")
    spec = _spec(tmp_path, model=None, objective="hs_testpkg.train:quadratic", direction="minimize",
                 space={"a": [0.0, 0.3, 0.6]})
    spec.pop("cv_folds")
    spec.pop("metric")
    res = _submit(local_cluster, spec, tmp_path, "pyf", submit_args=("--py-files", str(zipped)))
    assert res.returncode == 0, res.stderr[-3000:]
    result = json.loads(next(x for x in res.stdout.splitlines() if x.startswith("HYPERSPARK_RESULT "))
                        .removeprefix("HYPERSPARK_RESULT "))
    assert result["best_params"] == {"a": 0.3} and result["cv_score"] == 0.0 and result["test_metrics"] == {}


def test_package_missing_on_executors_fails_fast_in_one_line(local_cluster, tmp_path):
    """The driver can import it (PYTHONPATH), the executors cannot: exit 2 before any trial."""
    res = _submit(local_cluster, _spec(tmp_path), tmp_path, "noship", pythonpath=str(PKGS))
    assert res.returncode == 2, res.stderr[-3000:]
    # spark-submit merges the Python driver's stderr into its stdout (PythonRunner); the JVM logs to stderr
    both = res.stdout + res.stderr
    errors = [x for x in both.splitlines() if x.startswith("hyperspark:")]
    assert len(errors) == 1 and "Traceback" not in both, both[-3000:]
    msg = errors[0]
    assert msg.startswith("hyperspark: error: model hs_testpkg.models:ShrunkCentroids: module 'hs_testpkg' is not "
                          "importable (ModuleNotFoundError: No module named 'hs_testpkg') on executor ")
    eid = msg.split(" on executor ")[1].split(" ")[0]
    assert eid.isdigit()  # a real executor, named
    assert msg.endswith("; ship it with --py-files or --package")
    out = tmp_path / "runs" / "noship"
    assert not (out / "summary.json").exists() and not (out / "trials.jsonl").exists()


def test_hyperspark_submit_package_ships_it(local_cluster, tmp_path):
    """The CLI's `submit --package DIR`: zipped once, validated against it here, shipped to executors."""
    from click.testing import CliRunner

    from hyperspark.ops.cli import cli

    spec_path = tmp_path / "cli-pkg.yaml"
    spec_path.write_text(yaml.safe_dump(_spec(tmp_path, space={"shrink": [0.0, 0.5], "power": [1.0]})))
    res = CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(local_cluster.state.root), "submit",
                                   str(spec_path), "--run-id", "cli-pkg", "--package", str(TESTPKG), "--json"],
                             prog_name="hyperspark")
    assert res.exit_code == 0, res.output[-3000:]
    out = json.loads(res.stdout)
    assert out["exit_code"] == 0 and out["summary"]["search"]["ok"] == 2
    zips = list((local_cluster.state.root / "packages").glob("hs_testpkg-*.zip"))
    assert len(zips) == 1
    # without --package the spec cannot even be validated here: one line naming the module, exit 2
    bad = CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(local_cluster.state.root), "submit",
                                   str(spec_path), "--run-id", "cli-nopkg"], prog_name="hyperspark")
    assert bad.exit_code == 2 and "hs_testpkg" in bad.output and "Traceback" not in bad.output
