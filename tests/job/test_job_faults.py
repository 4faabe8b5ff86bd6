"""Faults the job itself must survive or report in one line: a model that raises, too many failures,
an output disk that is full or read-only (real tmpfs mounts)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperspark.job.run import run
from hyperspark.job.protocol import parse_trials
from hyperspark.job.spec import parse_spec

from .conftest import REPO
from tests.tmpfs import mount_tmpfs, unmount

pytestmark = pytest.mark.spark


def test_a_model_that_raises_is_recorded_once_and_the_search_completes(spark, base_spec):
    spec = parse_spec(dict(base_spec, model="sklearn.logistic_regression", metric="roc_auc",
                           space={"penalty": ["l1", "l2"], "solver": ["lbfgs"], "max_iter": [500]}))
    s = run(spark, spec, run_id="raises", progress_live=False)
    rows = parse_trials((Path(base_spec["output"]) / "raises" / "trials.jsonl").read_text())
    bad = [r for r in rows if r.status == "error"]
    assert len(rows) == 2 and len(bad) == 1 and bad[0].params["penalty"] == "l1"
    assert "l1" in bad[0].error and bad[0].decision == "failed"  # the library's own message, once
    assert s.search.failed == 1 and s.best_params["penalty"] == "l2"


def _job(spec: dict, tmp_path: Path, run_id: str) -> subprocess.CompletedProcess:
    p = tmp_path / f"{run_id}.yaml"
    p.write_text(yaml.safe_dump(spec))
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    return subprocess.run([sys.executable, str(REPO / "jobs" / "tune.py"), str(p), "--run-id", run_id,
                           "--master", "local[2]"], env=env, capture_output=True, text=True, timeout=300)


def test_max_failed_fraction_stops_the_run_with_one_line(tmp_path, base_spec):
    spec = dict(base_spec, model="sklearn.decision_tree", max_failed_fraction=0.5,
                space={"max_depth": [-1, -2, -3, -4, -5, -6, 3, 4]}, search={"type": "grid"})
    spec["parallelism"] = 1
    res = _job(spec, tmp_path, "mff")
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("hyperspark: failed: ") and "past max_failed_fraction 0.5" in last
    out = Path(base_spec["output"]) / "mff"
    rows = parse_trials((out / "trials.jsonl").read_text())
    assert 4 <= len(rows) < 8 and not (out / "summary.json").exists()


@pytest.mark.parametrize("case", ["full", "read-only"])
def test_full_or_read_only_output_is_one_line_and_leaves_nothing_half_written(tmp_path, base_spec, case):
    mnt = tmp_path / "disk"
    mount_tmpfs(mnt, "size=256k" if case == "full" else "size=256k,ro")
    try:
        if case == "full":  # leave room for spec.json and trials.jsonl, not for the model
            (mnt / "filler").write_bytes(b"\0" * (256 * 1024 - 40 * 1024))
        spec = dict(base_spec, output=str(mnt), space={"n_estimators": [200], "max_depth": [None]})
        res = _job(spec, tmp_path, "disk")
        assert res.returncode == 1, res.stderr[-1500:]
        last = res.stderr.strip().splitlines()[-1]
        assert last.startswith("hyperspark: failed: cannot write")
        assert ("No space left on device" if case == "full" else "Read-only file system") in last
        assert "Traceback" not in res.stderr
        run_dir = mnt / "disk"
        assert not (run_dir / "summary.json").exists()
        leftovers = [p.name for p in run_dir.rglob("*") if ".tmp" in p.name] if run_dir.exists() else []
        assert leftovers == []
    finally:
        unmount(mnt)
