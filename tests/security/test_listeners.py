"""Listeners that survive anything: the pull transport's listener (local[2]) and the warm driver's server
(a real standalone cluster), each sent a wrong key, a connect-and-close, HTTP bytes and an idle connection
held open; then a real search runs to the end through that very listener.

Before: the connect-and-close ended the pull listener's accept thread (``EOFError``), so the search's trial
tasks never got in; the wrong key ended the warm driver (``AuthenticationError`` is not an ``OSError``), and
the idle connection blocked its accept loop, so submits went cold.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from hyperspark.job.protocol import parse_trials
from tests.paths import REPO
from tests.security.bad_clients import send_bad_clients

SPEC = REPO / "examples" / "breast_cancer_sklearn.yaml"  # on 569 rows, cut to 2 trials:
SMALL = ["--set", "space.n_estimators=[10]", "--set", "space.max_depth=[2]", "--set", "space.min_samples_leaf=[1,2]"]


@pytest.fixture
def base_spec(tmp_path):
    """4 small random-forest trials on the bundled data (tests/job's base spec)."""
    return {"name": "t", "dataset": {"uri": str(REPO / "examples" / "data" / "breast_cancer.csv"), "label": "target"},
            "model": "sklearn.random_forest", "search": {"type": "grid"},
            "space": {"n_estimators": [10, 20], "max_depth": [2, 4]}, "metric": "roc_auc", "cv_folds": 3, "seed": 3,
            "output": str(tmp_path / "out")}


@pytest.mark.spark
def test_pull_listener_survives_bad_clients_and_a_search_runs_to_the_end(spark, base_spec, tmp_path, monkeypatch):
    from hyperspark.job.executors import pull
    from hyperspark.job.run import run
    from hyperspark.job.spec import parse_spec

    idle: list = []
    listeners: list = []
    original = pull.PullExecutor.__init__

    def init_then_attack(self, *args, **kwargs):
        original(self, *args, **kwargs)
        listeners.append(self._listener)
        idle.append(send_bad_clients(("127.0.0.1", self.address[1])))  # all four before warm() and the search

    monkeypatch.setattr(pull.PullExecutor, "__init__", init_then_attack)
    out: dict = {}

    def search() -> None:
        try:
            out["summary"] = run(spark, parse_spec({**base_spec, "output": str(tmp_path / "out")}), "sec-pull",
                                 log=lambda s: None, progress_live=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    t = threading.Thread(target=search, daemon=True)
    t.start()
    t.join(240)
    try:
        if t.is_alive():  # the old listener: trial tasks hang in Client(); free the session for the next tests
            spark.sparkContext.cancelAllJobs()
        assert not t.is_alive(), "the search did not end: the listener stopped accepting after a bad client"
        assert "error" not in out, out.get("error")
        summary = out["summary"]
        rows = parse_trials((Path(summary.output_uri.removeprefix("file://")) / "trials.jsonl").read_text())
        assert len({r.trial_id for r in rows}) == 4 and all(r.status == "ok" for r in rows)
        assert summary.shipping["measured"]["trial_tasks"] == "pull"
        assert listeners and listeners[0].refused >= 3  # wrong key, port probe, HTTP (idle: when its timer ends)
    finally:
        for sock in idle:
            sock.close()


@pytest.fixture(scope="module")
def warm_cluster(local_cluster):
    """The session's cluster with a warm driver, stopped again at the end (other tests submit cold)."""
    from hyperspark.ops.targets.local import warm

    warm.start(local_cluster)
    try:
        yield local_cluster
    finally:
        warm.stop(local_cluster)


@pytest.mark.cluster
@pytest.mark.spark
def test_warm_driver_survives_bad_clients_and_serves_the_next_submit(warm_cluster):
    from hyperspark.ops.cli import cli
    from hyperspark.ops.targets.local import warm

    st = warm.status(warm_cluster)
    assert st.running
    host, port = st.address.rsplit(":", 1)
    idle = send_bad_clients((host, int(port)))
    try:
        out = (warm_cluster.state.storage_dir / "runs").as_uri()
        res = CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(warm_cluster.state.root), "submit",
                                       str(SPEC), "--run-id", "sec-warm", "--set", f"output={out}", *SMALL, "--json"],
                                 prog_name="hyperspark")
        first = warm_cluster.logs("driver").splitlines()[0]
        assert first.startswith(f"$ warm driver pid {st.pid} "), first  # served warm, not gone cold
        assert res.exit_code == 0, res.output
        result = json.loads(res.stdout)
        rows = parse_trials((Path(result["output_uri"].removeprefix("file://")) / "trials.jsonl").read_text())
        assert len({r.trial_id for r in rows}) == 2 and all(r.status == "ok" for r in rows)
        assert warm.status(warm_cluster).pid == st.pid  # the same server, still up
    finally:
        idle.close()
