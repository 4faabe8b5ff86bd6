"""`hyperspark bench` end to end on the REAL local cluster, with tiny trials (no timing asserted)."""
from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from hyperspark.ops.cli import cli
from tests.paths import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.spark]


def test_bench_on_the_warm_driver_reports_the_cold_submit_beside_it(local_cluster, tmp_path):
    """--warm: one cold submit at the largest N, then every timed submit on the warm driver the bench
    started (really at N workers: the master and the driver agree, also after scaling up under it), which
    is stopped at the end; the
    artefacts (CSV, JSON, Markdown, PNG) agree with each other. One test for both drivers: the cold path
    is the same loop (the cold submit here), and each bench run costs a minute of the suite."""
    spec = {"name": "tiny-warm-bench", "model": "sklearn.decision_tree", "search": {"type": "grid"},
            "dataset": {"uri": str(REPO / "examples" / "data" / "breast_cancer.csv"), "label": "target"},
            "space": {"max_depth": [2, 3]}, "metric": "accuracy", "cv_folds": 2, "output": str(tmp_path / "x")}
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "bench"
    try:
        r = CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(local_cluster.state.root), "bench",
                                     "--spec", str(spec_path), "--workers", "1,2", "--repeats", "2", "--warm",
                                     "--out", str(out)], prog_name="hyperspark")
        assert r.exit_code == 0, r.output
        assert not local_cluster.status().warm_driver.running  # the bench started it, the bench stopped it
    finally:
        local_cluster.stop_warm()
        local_cluster.scale(2)  # the session cluster has 2 workers for the other tests
    report = json.loads((out / "report.json").read_text())
    assert report["driver"] == "warm"
    spark = [j for j in report["rows"] if j["kind"] == "spark"]
    # 2, 1, 1, 2: the last run follows a scale-up under the warm driver (its second executor must come)
    assert [(j["driver"], j["workers"]) for j in spark] == [("cold", 2), ("warm", 2), ("warm", 1), ("warm", 1),
                                                           ("warm", 2)]
    for j in spark:
        assert j["executors"] == j["workers"] == j["master_alive_workers"] and j["trials"] == 2
    assert [c["workers"] for c in report["cold_whole"]] == [2] and report["cold_whole"][0]["n"] == 1
    for j in spark:
        assert 0.0 <= j["idle_slot_fraction"] <= 1.0 and len(j["fit_s"]) == 2 and j["submit_to_first_task_s"] > 0
    assert "whole_cold_submit_2w_over_joblib_2" in report["targets"]
    assert {j["workers"] for j in report["rows"] if j["kind"] == "joblib"} == {1, 2}
    assert report["same_best_params_everywhere"]  # Spark (both drivers) and joblib found the same best trial
    assert [s["workers"] for s in report["spark_search"]] == [1, 2] and report["spark_search"][0]["speedup"] == 1.0
    assert (out / "results.csv").read_text().startswith("kind,workers,repeat,run_id,")
    png = (out / "speedup.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    md = (out / "report.md").read_text()
    assert "| N | median s |" in md and "Amdahl fit" in md and "| 2 (cold driver, 1 run(s)) |" in md
