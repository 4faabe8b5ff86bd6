"""``hyperspark.tune`` from a Spark Connect client against a REAL Connect server (``connect_server``: the
pyspark distribution's, local[2]): the same scores as GridSearchCV, ASHA with every (trial, rung) once, the
data read once per Python worker, resume after the client process is killed, and what Connect cannot do as
one line each."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import hyperspark
from hyperspark.job.protocol import parse_trials
from tests.paths import EXAMPLES, REPO, SRC
from tests.ports import free_port

pytestmark = [pytest.mark.spark]

BREAST_CANCER = EXAMPLES / "data" / "breast_cancer.csv"


@pytest.fixture(scope="module")
def bc() -> pd.DataFrame:
    return pd.read_csv(BREAST_CANCER)


def test_grid_matches_gridsearchcv_and_the_data_travels_once_per_worker(connect_spark, bc, tmp_path):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.tree import DecisionTreeClassifier

    space = {"max_depth": [2, 3, 4], "min_samples_leaf": [1, 8]}
    r = hyperspark.tune(model="sklearn.decision_tree", space=space, data=bc, label="target", search="grid",
                        metric="accuracy", cv_folds=3, seed=5, spark=connect_spark, output=str(tmp_path / "runs"))
    s = r.summary
    assert s.shipping["transport"] == "connect" and s.shipping["strategy"] == "parquet"
    assert s.data.input == "memory+connect-parquet" and s.cluster.slots == 2
    parquet = Path(s.shipping["measured"]["data_uri"].removeprefix("file://"))
    assert parquet.is_file() and parquet.parent == Path(r.output_uri.removeprefix("file://")) / "connect-data"

    X, y = bc.drop(columns="target").to_numpy(float), bc["target"].to_numpy()
    X_tr, _, y_tr, _ = train_test_split(X, y, test_size=0.2, random_state=5, stratify=y)
    gs = GridSearchCV(DecisionTreeClassifier(random_state=5), space, scoring="accuracy",
                      cv=StratifiedKFold(3, shuffle=True, random_state=5)).fit(X_tr, y_tr)
    rows = parse_trials((Path(r.output_uri.removeprefix("file://")) / "trials.jsonl").read_text())
    by_params = {json.dumps(x.params, sort_keys=True): x for x in rows}
    assert len(rows) == len(gs.cv_results_["params"]) == 6
    for i, params in enumerate(gs.cv_results_["params"]):
        row = by_params[json.dumps(params, sort_keys=True)]
        assert row.mean == pytest.approx(gs.cv_results_["mean_test_score"][i], abs=1e-12)
        assert row.fold_scores == pytest.approx([gs.cv_results_[f"split{k}_test_score"][i] for k in range(3)],
                                                abs=1e-12)
    assert s.best_params == gs.best_params_ and s.cv_score == pytest.approx(gs.best_score_, abs=1e-12)

    # once per Python worker: every row of a worker says it loaded the data exactly once, and the warm-up
    # (one task per slot) did the loading: fewer loads than trials
    loads = {(x.host, x.executor_id, x.pid): x.data_loads for x in rows}
    assert set(loads.values()) == {1}
    assert s.shipping["measured"]["data_loads"] == len(loads) <= 2 < len(rows)


def test_objective_under_asha_runs_every_trial_and_rung_once(connect_spark, bc, tmp_path):
    def objective(params, data, budget, report=None):  # shipped by value
        for epoch in range(1, budget + 1):
            report(epoch, params["lr"] * epoch)
        return {"score": params["lr"] * budget, "rows": len(data.y)}

    r = hyperspark.tune(objective=objective, space={"lr": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}, data=bc,
                        label="target", search="grid", spark=connect_spark, output=str(tmp_path / "runs"),
                        early_stopping={"type": "asha", "resource": "epochs", "min": 1, "max": 4, "reduction": 2})
    t = r.trials
    assert not t.duplicated(["trial_id", "rung"]).any() and set(t["trial_id"]) == set(t.query("rung == 0")["trial_id"])
    assert t["trial_id"].nunique() == 6 and set(t["rung"]) == {0, 1, 2}
    # ASHA decides as each result lands, so which rung-0 results go up depends on their order (with fewer
    # than `reduction` results nothing does; then the drain promotes): only the decisions' kinds and a
    # full-budget result are fixed
    assert set(t["decision"]) <= {"promote", "prune", "complete"} and (t["decision"] == "complete").any()
    final = t.query("rung == 2")
    assert r.best_params["epochs"] == 4 and r.best_score == pytest.approx(final["mean"].max())
    assert t["intermediate"].map(len).max() == 4 and set(t["metrics"].map(lambda m: m["rows"])) == {455.0}
    assert r.summary.shipping["transport"] == "connect" and r.summary.data.input == "memory+connect-parquet"


CLIENT = textwrap.dedent("""
    import sys
    import hyperspark

    url, out, module = sys.argv[1:4]
    r = hyperspark.tune(objective="slowobj:objective", py_files=[module], space={"a": list(range(8))},
                        data="file:///nowhere", search="grid", direction="minimize", spark=url, output=out,
                        run_id="resume-1")
    print("RESUMED", r.summary.search.resumed, "RAN", r.summary.search.ran, flush=True)
""")
SLOW = "import time\n\ndef objective(params, data, budget):\n    time.sleep(1.0)\n    return (params['a'] - 5) ** 2\n"


def test_resume_after_the_client_process_is_killed(connect_server, tmp_path):
    (tmp_path / "client.py").write_text(CLIENT)
    (tmp_path / "slowobj.py").write_text(SLOW)
    out = tmp_path / "runs"
    argv = [sys.executable, str(tmp_path / "client.py"), connect_server.url, str(out), str(tmp_path / "slowobj.py")]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # the client validates the import path
    trials = out / "resume-1" / "trials.jsonl"
    first = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if trials.is_file() and len(trials.read_text().splitlines()) >= 2:
                break
            time.sleep(0.2)
        assert first.poll() is None, first.communicate()[1].decode()[-2000:]
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the client dies mid-search
        first.wait()
    before = len(parse_trials(trials.read_text()))
    assert 2 <= before < 8 and not (out / "resume-1" / "summary.json").exists()

    second = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"RESUMED {before} RAN {8 - before}" in second.stdout
    rows = parse_trials(trials.read_text())
    assert sorted(r.params["a"] for r in rows) == list(range(8))  # each configuration exactly once
    summary = json.loads((out / "resume-1" / "summary.json").read_text())
    assert summary["best_params"] == {"a": 5} and summary["shipping"]["transport"] == "connect"


def test_what_connect_cannot_do_is_one_line(connect_spark, bc, tmp_path):
    dead = f"sc://127.0.0.1:{free_port()}"
    with pytest.raises(hyperspark.JobError) as e:
        hyperspark.tune(model="sklearn.decision_tree", space={"max_depth": [2]}, data=bc, label="target",
                        search="grid", spark=dead, output=str(tmp_path))
    assert "\n" not in str(e.value)
    assert str(e.value).startswith(f"Spark Connect server {dead} does not answer (")
    with pytest.raises(hyperspark.JobError) as e:
        hyperspark.tune(model="mllib.logistic_regression", space={"regParam": [0.0]}, data=bc, label="target",
                        search="grid", spark=connect_spark, output=str(tmp_path))
    assert "\n" not in str(e.value) and "MLlib models are not supported on Spark Connect" in str(e.value)
    with pytest.raises(hyperspark.JobError) as e:
        hyperspark.tune(model="sklearn.decision_tree", space={"max_depth": [2]}, data=bc, label="target",
                        search="grid", spark=connect_spark, output="hdfs://nn:8020/runs")
    assert str(e.value).startswith("output hdfs://nn:8020/runs: on Spark Connect")
    assert not list(tmp_path.iterdir())  # nothing was written


def test_server_version_rule():
    from hyperspark.job.session import connect_version_problem

    assert connect_version_problem("4.3.0") is None and connect_version_problem("3.5.1") is None
    assert connect_version_problem("3.4.0") == ("Spark Connect server runs Spark 3.4.0; hyperspark needs Spark "
                                                "3.5 or newer on Connect")
