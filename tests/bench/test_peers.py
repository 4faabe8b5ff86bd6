"""The peers benchmark in its short mode (``benchmarks/peers.py --short``): one real local cluster with a
real MLflow server, every installed tool runs a few null trials and a 3-trial TPE search on tiny data, once.
Asserts what the table is made of (each tool ran its trials and reported a best score, one row per tool
in the JSON and the Markdown), never timings. A peer that is not installed skips, saying why."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hyperspark.ops.peers import report
from hyperspark.ops.peers.run import Plan, one_tool
from hyperspark.ops.peers.tools import TOOLS
from tests.integration.cluster_fixtures import spark_missing
from tests.paths import REPO

pytestmark = [pytest.mark.spark, pytest.mark.cluster]
PEERS = {"hyperopt": "hyperopt", "optuna-mlflow": "mlflow.pyspark.optuna", "ray-tune": "ray.util.spark"}


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """``benchmarks/peers.py --short`` as a user runs it, in its own process: the benchmark's driver needs
    its own SparkContext (in this process the session-scoped local[2] one would be handed back by
    ``getOrCreate``), and Ray, hyperopt and MLflow leave nothing behind in the test process."""
    why = spark_missing()
    if why:
        pytest.skip(why)
    out = tmp_path_factory.mktemp("peers-out") / "peers"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "peers.py"), "--short", "--out", str(out)],
                          capture_output=True, text=True, timeout=1200, cwd=REPO)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return Plan.short(), json.loads(out.with_suffix(".json").read_text()), out


def _rows(result, tool):
    return {r["workload"]: r for r in result["records"] if r["tool"] == tool}


def _ran(plan, rows):
    assert set(rows) == {"null-0.2s", "hgb-tpe"}
    for name, r in rows.items():
        assert r["ok"], f"{name}: {r['reason']}"
        assert r["evals"] == (plan.null[0][0] if name.startswith("null") else plan.trials)
        assert r["best"] is not None and r["wall_s"] > 0
    assert 0.5 < rows["hgb-tpe"]["best"] <= 1.0  # a CV ROC AUC on learnable data
    assert rows["hgb-tpe"]["cpu_s"] > 0


def test_hyperspark_runs_every_workload(short_run):
    plan, result, _ = short_run
    rows = _rows(result, "hyperspark")
    _ran(plan, rows)
    assert rows["null-0.2s"]["extra"]["slots"] == plan.workers * plan.cores


@pytest.mark.parametrize("tool", sorted(PEERS))
def test_peer_runs_every_workload(short_run, tool):
    pytest.importorskip(PEERS[tool], reason=f"{tool} is not installed (pip install 'hyperspark[peers]')")
    plan, result, _ = short_run
    # no allowance for Ray's cluster start: it failed here only while its worker nodes' socket paths ran past
    # Linux's 107 bytes (a long temp dir; ray_tune.ray_on_spark now gives Ray a short root of its own)
    _ran(plan, _rows(result, tool))


def test_outputs_have_a_row_per_tool(short_run):
    plan, result, out = short_run
    data = json.loads(out.with_suffix(".json").read_text())
    assert {r["tool"] for r in data["records"]} == set(TOOLS)
    assert set(data["table"]["hgb-tpe"]) == set(TOOLS)
    md = out.with_suffix(".md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| workload"))
    assert all(t in header for t in TOOLS)
    assert any(line.startswith("| hgb-tpe") for line in md.splitlines())
    assert out.with_name("peers-anytime.png").stat().st_size > 1000


def test_a_missing_peer_says_why_in_every_cell(monkeypatch, tmp_path):
    from hyperspark.ops.peers import tools

    monkeypatch.setitem(tools.MODULES, "hyperopt", "hs_no_such_module_xyz")
    recs = one_tool(None, {"data": ""}, Plan.short(), 0, "hyperopt", tmp_path, print)
    assert recs and all(not r.ok and "hs_no_such_module_xyz is not installed" in r.reason for r in recs)
    tab = report.table({"plan": {}, "records": [r.__dict__ for r in recs]})
    assert tab["hgb-tpe"]["hyperopt"]["text"].startswith("n/a: hs_no_such_module_xyz is not installed")
