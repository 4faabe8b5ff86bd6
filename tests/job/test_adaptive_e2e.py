"""TPE and ASHA end to end on local[2], on the bundled data; kill-and-resume of a real driver process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hyperspark.job.run import run
from hyperspark.job.protocol import RunSummary, parse_trials
from hyperspark.job.spec import parse_spec

from .conftest import REPO

pytestmark = pytest.mark.spark


def _rows(out: Path, run_id: str):
    return parse_trials((out / run_id / "trials.jsonl").read_text())


def test_tpe_run_records_every_trial_once(spark, base_spec):
    spec = parse_spec(dict(base_spec, search={"type": "tpe", "trials": 8, "seed": 5},
                           space={"n_estimators": {"int": [5, 40]}, "max_depth": {"int": [1, 6]},
                                  "max_features": {"uniform": [0.2, 1.0]}}))
    s = run(spark, spec, run_id="tpe", progress_live=False)
    rows = _rows(Path(base_spec["output"]), "tpe")
    assert len(rows) == 8 and len({r.trial_id for r in rows}) == 8
    assert sorted(r.number for r in rows) == list(range(8))
    assert all(r.ok and r.decision == "complete" for r in rows)
    assert s.search.type == "tpe" and s.search.settings["sampler"] == "TPESampler"
    assert s.search.settings["seed"] == 5 and s.search.seed == 5
    assert s.cv_score == max(r.mean for r in rows)
    on_disk = RunSummary.model_validate_json((Path(base_spec["output"]) / "tpe" / "summary.json").read_text())
    assert on_disk.best_params == s.best_params


def test_asha_records_rungs_and_saves_core_seconds(spark, base_spec):
    space = {"max_depth": {"int": [1, 8]}, "max_features": {"uniform": [0.1, 1.0]}}
    asha = parse_spec(dict(base_spec, search={"type": "random", "trials": 9, "seed": 2}, space=space,
                           early_stopping={"type": "asha", "resource": "n_estimators", "min": 4, "max": 36,
                                           "reduction": 3}))
    s = run(spark, asha, run_id="asha", progress_live=False)
    rows = _rows(Path(base_spec["output"]), "asha")
    assert len({r.key for r in rows}) == len(rows)  # one row per (trial, rung)
    assert {r.rung for r in rows} >= {0, 1} and {r.budget for r in rows if r.rung == 0} == {4}
    assert len({r.trial_id for r in rows if r.rung == 0}) == 9
    es = s.early_stopping
    assert es.rungs == [4, 12, 36] and es.per_rung[0] == 9 and es.pruned >= 1
    best = next(r for r in rows if r.trial_id == s.best.trial_id and r.rung == 2)
    assert best.budget == 36 and s.best_params["n_estimators"] == 36 and s.cv_score == best.mean
    # the same nine configurations, every one at the full budget
    full = parse_spec(dict(base_spec, search={"type": "random", "trials": 9, "seed": 2},
                           space={**space, "n_estimators": 36}))
    f = run(spark, full, run_id="full36", progress_live=False)
    assert {tuple(sorted((k, v) for k, v in r.params.items() if k != "n_estimators"))
            for r in _rows(Path(base_spec["output"]), "full36")} == {
        tuple(sorted(r.params.items())) for r in rows if r.rung == 0}
    assert es.busy_core_seconds < f.cost.busy_core_seconds


def test_finished_run_resumed_is_a_no_op(spark, base_spec):
    spec = parse_spec(dict(base_spec, space={"n_estimators": [5], "max_depth": [2, 3]}))
    first = run(spark, spec, run_id="again", progress_live=False)
    before = (Path(base_spec["output"]) / "again" / "trials.jsonl").read_text()
    second = run(spark, spec, run_id="again", resume=True, progress_live=False)
    assert second.model_dump() == first.model_dump()
    assert (Path(base_spec["output"]) / "again" / "trials.jsonl").read_text() == before


def test_kill_and_resume_a_tpe_run_repeats_nothing(tmp_path, base_spec):
    """A real driver process is killed (whole process group) mid-search; the rerun finishes the rest."""
    # trials of ~1 s (3 folds of 150-300 trees): the search must still be running when 3 rows have landed
    # (trials.jsonl is flushed once a second; 20-60 trees finished all 10 trials before the first flush)
    spec = dict(base_spec, name="kr", search={"type": "tpe", "trials": 10, "seed": 1},
                space={"n_estimators": {"int": [150, 300]}, "max_depth": {"int": [2, 8]}})
    spec_path = tmp_path / "kr.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = Path(base_spec["output"])
    cmd = [sys.executable, str(REPO / "jobs" / "tune.py"), str(spec_path), "--run-id", "kr",
           "--master", "local[2]"]
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    trials = out / "kr" / "trials.jsonl"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if trials.exists() and len(trials.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the driver finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {r.key: r for r in parse_trials(trials.read_text())}
    assert 3 <= len(before) < 10 and not (out / "kr" / "summary.json").exists()

    res = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    after = parse_trials(trials.read_text())
    assert len(after) == 10 and len({r.key for r in after}) == 10
    for r in after:
        if r.key in before:  # recorded before the kill: not run again
            assert r.started_at == before[r.key].started_at
    assert sorted(r.number for r in after) == list(range(10))
    summary = json.loads((out / "kr" / "summary.json").read_text())
    assert summary["search"]["resumed"] == len(before) and summary["search"]["ran"] == 10 - len(before)


def test_replicate_executor_runs_budgets_like_broadcast(spark, base_spec):
    """The same searcher and ASHA scheduler drive the replicate executor: same rows, same scores."""
    common = dict(base_spec, search={"type": "random", "trials": 4, "seed": 9},
                  space={"max_depth": {"int": [1, 6]}},
                  early_stopping={"resource": "n_estimators", "min": 3, "max": 9, "reduction": 3})
    a = run(spark, parse_spec(common), run_id="asha-bc", progress_live=False)
    b = run(spark, parse_spec(dict(common, data_shipping="replicate")), run_id="asha-rep", progress_live=False)
    out = Path(base_spec["output"])
    ra = {r.key: r for r in _rows(out, "asha-bc")}
    rb = {r.key: r for r in _rows(out, "asha-rep")}
    assert {r.budget for r in rb.values()} >= {3}
    # arrival order may differ between the two runs, so compare the evaluations both made
    common_keys = ra.keys() & rb.keys()
    assert {k for k in common_keys if k[1] == 0} == {k for k in ra if k[1] == 0}
    for k in common_keys:
        assert ra[k].fold_scores == pytest.approx(rb[k].fold_scores, abs=1e-12)
        assert ra[k].budget == rb[k].budget
    assert a.best.budget == 9 and b.best.budget == 9


def test_mllib_executor_with_tpe_and_asha(spark, base_spec):
    spec = parse_spec(dict(base_spec, model="mllib.logistic_regression", metric="f1", cv_folds=2,
                           search={"type": "tpe", "trials": 4, "seed": 2},
                           space={"regParam": {"loguniform": [1e-4, 1.0]}},
                           early_stopping={"resource": "maxIter", "min": 2, "max": 8, "reduction": 2}))
    s = run(spark, spec, run_id="ml-asha", progress_live=False)
    rows = _rows(Path(base_spec["output"]), "ml-asha")
    assert len({r.trial_id for r in rows}) == 4 and {r.budget for r in rows if r.rung == 0} == {2}
    assert s.best_params["maxIter"] == 8 and s.early_stopping.rungs == [2, 4, 8]
    assert all(len(r.fold_scores) == 2 for r in rows if r.ok)
    assert (Path(base_spec["output"]) / "ml-asha" / "model" / "spark" / "metadata").is_dir()
