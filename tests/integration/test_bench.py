"""`hyperspark bench` end to end on the REAL local cluster, with tiny trials (no timing asserted)."""
from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from hyperspark.ops.cli import cli
from tests.paths import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.spark]


def test_bench_artefacts_are_complete_and_consistent(local_cluster, tmp_path):
    spec = {
        "name": "tiny-bench",
        "dataset": {"uri": str(REPO / "examples" / "data" / "breast_cancer.csv"), "label": "target"},
        "model": "sklearn.decision_tree",
        "search": {"type": "grid"},
        "space": {"max_depth": [2, 3, 4]},
        "metric": "accuracy",
        "cv_folds": 2,
        "output": str(tmp_path / "unused"),
    }
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "bench"
    try:
        r = CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(local_cluster.state.root), "bench",
                                     "--spec", str(spec_path), "--workers", "1,2", "--repeats", "1", "--out",
                                     str(out)], prog_name="hyperspark")
        assert r.exit_code == 0, r.output
    finally:
        local_cluster.scale(2)  # the session cluster has 2 workers for the other tests

    report = json.loads((out / "report.json").read_text())
    assert (out / "results.csv").read_text().startswith("kind,workers,repeat,run_id,")
    spark_rows = [j for j in report["rows"] if j["kind"] == "spark"]
    assert sorted(j["workers"] for j in spark_rows) == [1, 2]
    for j in spark_rows:  # the worker count was really applied, as the master and the driver saw it
        assert j["master_alive_workers"] == j["workers"]
        assert j["executors"] == j["workers"]
        assert j["trials"] == 3 and len(j["fit_s"]) == 3
        assert 0.0 <= j["idle_slot_fraction"] <= 1.0
        assert j["submit_to_first_task_s"] > 0
    joblib_rows = [j for j in report["rows"] if j["kind"] == "joblib"]
    assert {j["workers"] for j in joblib_rows} == {1, 2}
    assert report["same_best_params_everywhere"]  # Spark and joblib found the same best trial
    assert [s["workers"] for s in report["spark_search"]] == [1, 2]
    assert report["spark_search"][0]["speedup"] == 1.0
    png = (out / "speedup.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    md = (out / "report.md").read_text()
    assert "| N | median s |" in md and "Amdahl fit" in md
