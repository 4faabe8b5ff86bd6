"""Leases of the long-lived trial tasks (pull.py) on a real local standalone cluster.

A Python worker running a trial is STOPPED (SIGSTOP: a hung process that keeps its connection open and
sends nothing). Its lease expires (``spark.hyperspark.leaseSeconds``), the driver takes the trial back,
another slot runs it, and every trial is recorded once. The stopped worker is killed by the search's end
(the Spark job group is cancelled) or, if anything is left, by this test.

The kill -9 of a whole worker (connection dropped) is test_faults.py's worker test, which runs on the
same default (``trial_tasks: pull``).
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from hyperspark.job.protocol import RunSummary
from tests.integration.test_faults import (assert_every_trial_once, null_spec, rows_of, stop_driver,
                                           submit_in_thread, wait_for)

pytestmark = [pytest.mark.cluster, pytest.mark.spark]


def python_daemons(work_dir: Path) -> list[psutil.Process]:
    """The Python daemons (one per executor) of executors under this cluster's work dir."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if ("pyspark.daemon" in cmd or "hyperspark.job.daemon" in cmd) and str(work_dir) in p.cwd():
                out.append(p)
        except psutil.Error:
            continue
    return out


def python_workers(work_dir: Path) -> list[psutil.Process]:
    """Python workers (children of a daemon) of executors under this cluster's work dir."""
    out = []
    for d in python_daemons(work_dir):
        try:
            out += d.children()
        except psutil.Error:
            continue
    return out


def test_a_hung_trial_task_loses_its_lease_and_the_trial_runs_once_elsewhere(local_cluster, tmp_path: Path):
    target = local_cluster
    spec = null_spec(tmp_path / "lease.yaml", tmp_path / "out", trials=8, seconds=1.0)
    run_dir = tmp_path / "out" / "lease"
    thread, box = submit_in_thread(target, spec, "lease", conf={"spark.hyperspark.leaseSeconds": "4"})
    stopped: list[psutil.Process] = []
    try:
        wait_for(lambda: len(rows_of(run_dir)) >= 1 and python_workers(target.state.work_dir), 240,
                 "the search to be running")
        # the local target forks workers from hyperspark.job.daemon (libraries imported before the fork)
        daemons = python_daemons(target.state.work_dir)
        assert daemons and all("hyperspark.job.daemon" in " ".join(d.cmdline()) for d in daemons), \
            [d.cmdline() for d in daemons]
        victim = python_workers(target.state.work_dir)[0]
        victim.send_signal(signal.SIGSTOP)
        stopped.append(victim)
        thread.join(600)
        assert not thread.is_alive(), "the search did not finish after a trial task hung"
        assert "error" not in box, box.get("error")
        res = box["result"]
        assert res.exit_code == 0, (res.error, target.state.log_file("driver"))
        assert_every_trial_once(rows_of(run_dir), 8)
        summary = RunSummary.model_validate_json((run_dir / "summary.json").read_text())
        assert summary.shipping["measured"]["trials_requeued"] >= 1, summary.shipping
        log = (target.state.logs_dir / "driver-lease.log").read_text(errors="replace")
        assert "taken back" in log and "no heartbeat" in log
        # the hung worker was not left behind: the search's end cancelled its task and Spark killed it
        wait_for(lambda: not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE, 60,
                 "the hung Python worker to be killed")
    finally:
        for p in stopped:
            try:
                p.send_signal(signal.SIGCONT)
                os.kill(p.pid, signal.SIGKILL)
            except (psutil.Error, ProcessLookupError):
                pass
        stop_driver(target, "lease", spec)
        thread.join(30)
