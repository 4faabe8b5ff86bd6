"""The warm tuning driver (``hyperspark up --warm``) on a REAL local standalone cluster.

One cluster for the module (its own: a cold submit must not wait for the warm driver's executors);
the warm driver's process is checked with psutil and the master's own ``/json/``. Everything is
stopped by recorded pid at the end, also when a test fails.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from hyperspark.job.protocol import parse_trials
from hyperspark.ops import spark_api
from hyperspark.ops.targets.local import warm
from hyperspark.ops.cli import cli
from hyperspark.ops.util.proc import group_members, pid_alive, terminate
from tests.integration.cluster_fixtures import cluster_ports, spark_missing
from tests.paths import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

SPEC = REPO / "examples" / "breast_cancer_sklearn.yaml"  # the demo's spec: 12 trials on 569 rows


def hs(target, *args: str):
    return CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(target.state.root), *args],
                              prog_name="hyperspark")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    from hyperspark.ops.targets.local import LocalTarget

    target = LocalTarget(tmp_path_factory.mktemp("hs-warm"), hdfs=False, **cluster_ports())
    try:
        target.up(2)
        yield target
    finally:
        pid = target.state.read_pid(warm.NAME)
        target.down()
        if pid is not None and pid_alive(pid):  # down failed to stop it: never leave a driver behind
            terminate(pid, timeout=10, group=True)


def ensure_warm(target) -> int:
    """The warm driver's pid (started through the CLI when not running)."""
    if not warm.status(target).running:
        up = hs(target, "up", "--workers", "2", "--warm")
        assert up.exit_code == 0, up.output
    st = warm.status(target)
    assert st.running and pid_alive(st.pid)
    return st.pid


def submit(target, run_id: str, *extra: str) -> dict:
    out = (target.state.storage_dir / "runs").as_uri()
    res = hs(target, "submit", str(SPEC), "--run-id", run_id, "--set", f"output={out}", "--json", *extra)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def trials(result: dict) -> dict[str, tuple]:
    path = Path(result["output_uri"].removeprefix("file://")) / "trials.jsonl"
    rows = parse_trials(path.read_text())
    return {r.trial_id: (r.params, r.status, r.fold_scores, r.mean) for r in rows}


def app_ids(target) -> set[str]:
    data = spark_api.master_json(target.master_ui)
    assert data is not None
    return {a["id"] for a in data["activeapps"] + data["completedapps"]}


def test_warm_submit_gives_the_cold_result(cluster) -> None:
    if warm.status(cluster).running:  # run alone after another test: a cold run needs the cores
        warm.stop(cluster)
    cold = submit(cluster, "cold-a")
    assert cluster.logs("driver").startswith("$ ") and "spark-submit" in cluster.logs("driver").splitlines()[0]

    pid = ensure_warm(cluster)
    hot = submit(cluster, "warm-a")
    first = cluster.logs("driver").splitlines()[0]
    assert first.startswith(f"$ warm driver pid {pid} "), first
    assert hot["summary"]["cluster"]["app_id"] == warm.status(cluster).app_id != cold["summary"]["cluster"]["app_id"]

    assert trials(hot) == trials(cold) and len(trials(cold)) == 12
    assert hot["summary"]["best_params"] == cold["summary"]["best_params"]
    assert hot["summary"]["cv_score"] == cold["summary"]["cv_score"]
    assert hot["summary"]["test_metrics"] == cold["summary"]["test_metrics"]
    assert hot["summary"]["cluster"]["executors"] == 2  # waited for both workers' executors


def test_two_warm_submits_reuse_the_driver(cluster) -> None:
    pid = ensure_warm(cluster)
    apps = app_ids(cluster)
    one = submit(cluster, "warm-b1")
    two = submit(cluster, "warm-b2")
    assert one["summary"]["cluster"]["app_id"] == two["summary"]["cluster"]["app_id"] == warm.status(cluster).app_id
    assert warm.status(cluster).pid == pid and pid_alive(pid)
    assert app_ids(cluster) == apps  # no new Spark application: no new driver JVM
    assert two["summary"]["timings"]["session"] == 0.0
    status = hs(cluster, "status", "--json")
    assert json.loads(status.stdout)["warm_driver"]["pid"] == pid


def test_bad_input_is_one_line_and_the_driver_serves_on(cluster, tmp_path: Path) -> None:
    pid = ensure_warm(cluster)
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.read_text().replace("cv_folds: 3", "cv_folds: 3\nbogus_key: 1"))
    lines: list[str] = []
    res = cluster.submit(bad, on_line=lines.append)  # the library: the spec reaches the warm driver
    assert cluster.logs("driver").startswith(f"$ warm driver pid {pid} ")
    assert res.exit_code == 2
    assert lines == ["hyperspark: error: invalid spec: bogus_key: unknown key"]
    assert res.error == "invalid spec: bogus_key: unknown key"

    missing = (tmp_path / "nope.csv").as_uri()  # valid spec, bad data: found by the job (CLI)
    sub = hs(cluster, "submit", str(SPEC), "--set", f"dataset.uri={missing}",
             "--set", f"output={(tmp_path / 'runs').as_uri()}")
    assert sub.exit_code == 2, sub.output
    out = [line for line in sub.output.splitlines() if line.strip()]
    assert len(out) == 1 and out[0].startswith("Error: dataset not found: ") and "nope.csv" in out[0]

    after = submit(cluster, "warm-c")
    assert after["summary"]["cluster"]["app_id"] == warm.status(cluster).app_id
    assert warm.status(cluster).pid == pid


def test_a_client_killed_mid_search_cancels_its_trials_and_the_driver_serves_on(cluster, tmp_path: Path) -> None:
    """Ctrl-C / kill of `hyperspark submit` on the warm driver: the server notices the hang-up at once
    (not at the run's next output line), cancels the run's Spark jobs, whose Python workers running the
    40 s trials are killed, and the next submit is served."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil
    import yaml

    from tests.integration.test_pull_faults import python_workers

    pid = ensure_warm(cluster)
    out = tmp_path / "out"
    spec = tmp_path / "long.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "long", "dataset": {"uri": str(REPO / "examples" / "data" / "breast_cancer.csv"), "label": "target"},
        "model": "null.sleep", "search": {"type": "grid"}, "space": {"seconds": [20.0], "trial": [0, 1, 2, 3]},
        "metric": "accuracy", "cv_folds": 2, "output": str(out)}))
    cli_bin = str(Path(sys.executable).parent / "hyperspark")
    proc = subprocess.Popen([cli_bin, "--target", "local", "--state-dir", str(cluster.state.root), "submit", str(spec),
                             "--run-id", "long"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "--run-id long " not in cluster.logs(warm.NAME) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "--run-id long " in cluster.logs(warm.NAME), "the run did not reach the warm driver"
        time.sleep(12)  # load, warm-up (a few s on the warm session), then inside the 40 s trials
        busy = python_workers(cluster.state.work_dir)  # one per slot, each running a trial now
        assert len(busy) >= 2, "the trials did not start"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        killed_at = time.monotonic()
        gone, alive = psutil.wait_procs(busy, timeout=30)
        # well before the 40 s trials could have ended by themselves: they were cancelled
        assert not alive, f"trial workers still running {time.monotonic() - killed_at:.0f} s after the client died"
        assert not (out / "long" / "trials.jsonl").exists() or not parse_trials(
            (out / "long" / "trials.jsonl").read_text()), "a cancelled trial was recorded"
        assert "the client went away" in cluster.logs(warm.NAME)
        after = submit(cluster, "warm-after-cancel")
        assert warm.status(cluster).pid == pid
        assert len(trials(after)) == 12
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def test_down_stops_the_warm_driver(cluster) -> None:
    pid = ensure_warm(cluster)
    down = hs(cluster, "down", "--json")
    assert down.exit_code == 0, down.output
    assert "warm" in json.loads(down.stdout)["stopped"]
    assert not pid_alive(pid)
    assert group_members(pid) == []  # the Python driver went with its JVM
    assert cluster.state.read_pid(warm.NAME) is None
    assert not warm.status(cluster).running


def test_up_warm_is_refused_on_other_targets(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["--target", "compose", "--state-dir", str(tmp_path), "up", "--warm"],
                             prog_name="hyperspark")
    assert res.exit_code == 1
    assert res.output.strip() == "Error: --warm: a warm driver runs on the local target only, not on compose"
