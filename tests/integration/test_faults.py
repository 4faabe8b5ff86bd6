"""Live faults on the LOCAL target: each test fails if the promise breaks.

* a worker dies (kill -9 of the worker, its executor JVM and its Python workers) mid-search;
* the driver dies (kill -9 of the whole process group of ``hyperspark submit``), then ``--resume``;
* the NameNode restarts during an upload;
* ``hyperspark scale 1`` during a search;
* the state dir is full or read-only (real tmpfs mounts; skipped when ``mount`` is not permitted).

Trials are null trials (``null.sleep``: each fold sleeps, no CPU), so a 2-core machine under load
still runs them at a known pace. Every process a test starts is stopped by pid in ``finally``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from hyperspark.job.protocol import RunSummary, parse_trials
from tests.paths import REPO
from tests.tmpfs import mount_tmpfs, unmount

DATA = REPO / "examples" / "data" / "breast_cancer.csv"
HYPERSPARK = [str(Path(sys.executable).parent / "hyperspark")]



def null_spec(path: Path, out: Path, trials: int = 12, seconds: float = 1.0, folds: int = 2) -> Path:
    """``trials`` distinct null trials of ``folds`` x ``seconds`` each."""
    spec = {"name": path.stem, "dataset": {"uri": str(DATA), "label": "target"}, "model": "null.sleep",
            "search": {"type": "grid"}, "space": {"seconds": [seconds], "trial": list(range(trials))},
            "metric": "accuracy", "cv_folds": folds, "seed": 1, "output": str(out)}
    path.write_text(yaml.safe_dump(spec))
    return path


def rows_of(run_dir: Path) -> list:
    f = run_dir / "trials.jsonl"
    return parse_trials(f.read_text()) if f.exists() else []


def wait_for(pred, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def executors_of_worker(work_dir: Path) -> list[psutil.Process]:
    """Executor JVMs whose working dir lies in this worker's work dir (``<work>/app-*/N``)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if "CoarseGrainedExecutorBackend" in " ".join(p.info["cmdline"] or []) and \
                    str(work_dir) in p.cwd():
                out.append(p)
        except psutil.Error:
            continue
    return out


def executor_id(proc: psutil.Process) -> str:
    cmd = proc.cmdline()
    return cmd[cmd.index("--executor-id") + 1]


def kill_tree(procs: list[psutil.Process]) -> list[int]:
    """SIGKILL every process given and all their descendants, at once."""
    victims = []
    for p in procs:
        try:
            victims += [p, *p.children(recursive=True)]
        except psutil.Error:
            pass
    for p in victims:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=10)
    return [p.pid for p in victims]


def submit_in_thread(target, spec: Path, run_id: str, **kw):
    """target.submit in a thread; returns (thread, box) where box['result'] or box['error'] lands."""
    box: dict = {}

    def go() -> None:
        try:
            box["result"] = target.submit(spec, run_id=run_id, **kw)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            box["error"] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, box


def stop_driver(target, run_id: str, spec: Path) -> None:
    """Stop a driver a failed test may have left (by pid: processes whose command line has this test's
    spec file, unique to the test, and the run id; never another session's driver of the same run id)."""
    for p in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
        except psutil.Error:
            continue
        if (str(spec) in cmd and f"--run-id {run_id}" in cmd and ("tune.py" in cmd or "SparkSubmit" in cmd)
                and p.pid != os.getpid()):
            try:
                p.kill()
            except psutil.Error:
                pass


def assert_every_trial_once(rows: list, n: int) -> None:
    ids = [r.trial_id for r in rows]
    assert len(ids) == n and len(set(ids)) == n, f"{len(ids)} rows, {len(set(ids))} distinct, want {n}"
    assert all(r.ok for r in rows), [r.error for r in rows if not r.ok]


# -- a worker dies ---------------------------------------------------------------------------------
@pytest.mark.cluster
@pytest.mark.spark
def test_a_worker_killed_with_its_executor_mid_search_loses_no_trial(fresh_local_target, tmp_path: Path):
    target = fresh_local_target
    target.up(2)
    spec = null_spec(tmp_path / "worker-dies.yaml", tmp_path / "out", trials=12, seconds=1.0)
    run_dir = tmp_path / "out" / "wdies"
    thread, box = submit_in_thread(target, spec, "wdies")
    try:
        victim_dir = target.state.work_dir / "worker-2"
        # mid-search: the victim's executor has finished at least one trial, more remain
        wait_for(lambda: any(executors_of_worker(victim_dir)) and len(rows_of(run_dir)) >= 2, 240,
                 "the search to be running on both workers")
        execs = executors_of_worker(victim_dir)
        victim_ids = {executor_id(p) for p in execs}
        worker = psutil.Process(target.state.read_pid("worker-2"))
        killed_at = time.time()
        kill_tree([worker, *execs])
        thread.join(600)
        assert not thread.is_alive(), "the search did not finish after the worker died"
        assert "error" not in box, box.get("error")
        res = box["result"]
        assert res.exit_code == 0, (res.error, target.state.log_file("driver"))
        rows = rows_of(run_dir)
        assert_every_trial_once(rows, 12)
        # trials.jsonl is flushed at most once a second, so rows the driver held when the worker died may
        # be missing from done_before: what ended AFTER the kill is what must have run on the survivor
        # (the executor's own clock, on this machine)
        after = [r for r in rows if r.ended_at > killed_at]
        assert after, "no trial was left when the worker died: the test did not kill mid-search"
        # whatever had not finished (lost with the executor, or not started yet) ran on the survivor
        assert all(r.executor_id not in victim_ids for r in after), \
            [(r.trial_id, r.executor_id) for r in after]
        summary = RunSummary.model_validate_json((run_dir / "summary.json").read_text())
        assert summary.search.ok == 12
    finally:
        stop_driver(target, "wdies", spec)
        thread.join(30)


# -- the driver dies -------------------------------------------------------------------------------
@pytest.mark.cluster
@pytest.mark.spark
def test_a_killed_driver_is_resumed_running_only_the_missing_trials(local_cluster, tmp_path: Path):
    state = local_cluster.state.root
    spec = null_spec(tmp_path / "driver-dies.yaml", tmp_path / "out", trials=12, seconds=1.0)
    run_dir = tmp_path / "out" / "ddies"
    env = dict(os.environ, HYPERSPARK_STATE_DIR=str(state), HYPERSPARK_TARGET="local")
    env.pop("HADOOP_HOME", None)
    proc = subprocess.Popen([*HYPERSPARK, "submit", str(spec), "--run-id", "ddies"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: len(rows_of(run_dir)) >= 3 or proc.poll() is not None, 300, "3 finished trials")
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        # the driver (own session, started by the CLI) must not outlive it
        wait_for(lambda: not _driver_pids("ddies"), 60, "the driver JVM and Python driver to exit")
        before = {r.trial_id: r.started_at for r in rows_of(run_dir)}
        assert 3 <= len(before) < 12
        assert not (run_dir / "summary.json").exists()

        res = subprocess.run([*HYPERSPARK, "submit", str(spec), "--run-id", "ddies", "--resume", "--json"],
                             env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        rows = rows_of(run_dir)
        assert_every_trial_once(rows, 12)
        for r in rows:  # recorded rows were kept as they were, not rerun
            if r.trial_id in before:
                assert r.started_at == before[r.trial_id]
        summary = RunSummary.model_validate_json((run_dir / "summary.json").read_text())
        assert summary.search.resumed == len(before)
        assert summary.search.ran == 12 - len(before)
        assert summary.search.ok == 12
        out = json.loads(res.stdout)
        assert out["run_id"] == "ddies" and out["summary"]["search"]["ok"] == 12
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        stop_driver(local_cluster, "ddies", spec)


def _driver_pids(run_id: str) -> list[int]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
        except psutil.Error:
            continue
        if run_id in cmd and ("tune.py" in cmd or "SparkSubmit" in cmd):
            out.append(p.pid)
    return out


# -- scale-down during a search --------------------------------------------------------------------
@pytest.mark.cluster
@pytest.mark.spark
def test_scale_down_during_a_search_loses_no_trial(fresh_local_target, tmp_path: Path):
    target = fresh_local_target
    target.up(2)
    spec = null_spec(tmp_path / "scale.yaml", tmp_path / "out", trials=12, seconds=1.0)
    run_dir = tmp_path / "out" / "scaledown"
    thread, box = submit_in_thread(target, spec, "scaledown")
    try:
        try:
            wait_for(lambda: len(rows_of(run_dir)) >= 2, 240, "the search to be running")
        except AssertionError as exc:
            log = target.state.logs_dir / "driver-scaledown.log"
            tail = log.read_text(errors="replace").splitlines()[-30:] if log.exists() else []
            raise AssertionError(f"{exc}; driver log tail:\n" + "\n".join(tail)) from None
        t0 = time.monotonic()
        status = target.scale(1)  # the CLI's `hyperspark scale 1`: decommission, wait for its trial, stop
        assert len(status.alive_workers) == 1
        assert time.monotonic() - t0 < 120, "scale waited for the decommission timeout: drain not seen"
        thread.join(600)
        assert not thread.is_alive(), "the search did not finish after the scale-down"
        assert "error" not in box, box.get("error")
        res = box["result"]
        assert res.exit_code == 0, (res.error, target.state.log_file("driver"))
        assert_every_trial_once(rows_of(run_dir), 12)
        # decommissioned, not killed: the trial running there finished, none had to be rerun
        log = (target.state.logs_dir / "driver-scaledown.log").read_text(errors="replace")
        assert "Lost task" not in log, [ln for ln in log.splitlines() if "Lost task" in ln][:3]
    finally:
        stop_driver(target, "scaledown", spec)
        thread.join(30)


# -- the NameNode restarts during an upload ------------------------------------------------------
@pytest.mark.hdfs
def test_namenode_restart_during_upload_retries_or_fails_in_one_line(private_hdfs, tmp_path: Path, monkeypatch):
    from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage
    from hyperspark.ops.model import OpsError
    from hyperspark.ops.util.files import file_digest

    monkeypatch.setenv("HYPERSPARK_UPLOAD_RETRY_S", "120")
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:  # big enough that the write is still going when the NameNode goes
        for _ in range(96):
            f.write(os.urandom(1024 * 1024))
    storage = WebHdfsStorage(private_hdfs.webhdfs_url, private_hdfs.fs_uri)
    storage.mkdirs("/faults")
    box: dict = {}

    def go() -> None:
        try:
            box["result"] = storage.upload(src, "/faults/big.bin")
        except OpsError as exc:
            box["error"] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    try:
        wait_for(lambda: any(".hyperspark-tmp-" in n for n in storage.list("/faults")), 120,
                 "the temporary file to appear")
        nn = [d for d in private_hdfs._daemons() if d.name == "namenode"]
        private_hdfs._stop_daemons(nn, timeout_s=20)
        time.sleep(3)
        private_hdfs.start()  # the NameNode comes back (same name dir), DataNodes re-register
        t.join(300)
        assert not t.is_alive(), "the upload neither finished nor failed"
        names = storage.list("/faults")
        assert not any(".hyperspark-tmp-" in n for n in names), names  # the temporary name is gone
        if "error" in box:
            msg = str(box["error"])
            assert "\n" not in msg and msg.startswith("upload to ")
            assert "big.bin" not in names  # no partial file under the final name
        else:
            assert box["result"].checksum == file_digest(src)[0]
            got = storage._digest("/faults/big.bin")
            assert got == file_digest(src)  # what sits under the final name is byte-exact
    finally:
        t.join(60)
        if not private_hdfs.is_running():
            private_hdfs.start()
        storage.delete("/faults", recursive=True)


# -- the state dir is full or read-only --------------------------------------------------------------
@pytest.mark.parametrize("case", ["full", "read-only"])
def test_a_full_or_read_only_state_dir_is_one_line_and_nothing_half_written(tmp_path: Path, case: str):
    mnt = tmp_path / "state"
    mount_tmpfs(mnt, "size=64k" if case == "full" else "size=64k,ro")
    try:
        if case == "full":
            try:  # fill it to the last block
                with open(mnt / "filler", "wb") as f:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
            except OSError:
                pass
        src = tmp_path / "x.csv"
        src.write_text("a,b\n" + "1,2\n" * 20000)  # 80 kB: more than the mount holds
        before = _tree(mnt)
        env = dict(os.environ, HYPERSPARK_STATE_DIR=str(mnt), HYPERSPARK_TARGET="local")
        env.pop("HADOOP_HOME", None)
        res = subprocess.run([*HYPERSPARK, "upload", str(src), "data/x.csv"], env=env, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 1, res.stdout + res.stderr
        lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), lines
        assert "Traceback" not in res.stderr
        assert ("No space left on device" if case == "full" else "Read-only file system") in lines[0]
        # nothing half-written: no final file, no temporary left
        after = _tree(mnt)
        assert not (mnt / "storage" / "data" / "x.csv").exists()
        assert [p for p in after - before if "tmp" in p] == []

        # `up` writes state.json before it starts anything: one line, nothing started, nothing written
        from tests.ports import free_port_block

        base = free_port_block(6)
        up = subprocess.run([*HYPERSPARK, "up", "--no-hdfs", "--workers", "1", "--master-port", str(base),
                             "--ui-port", str(base + 1), "--worker-ui-port", str(base + 2),
                             "--history-ui-port", str(base + 3)],
                            env=env, capture_output=True, text=True, timeout=300)
        try:
            assert up.returncode == 1, up.stdout + up.stderr
            lines = [ln for ln in (up.stdout + up.stderr).splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("Error: cannot write "), lines
            assert ("No space left on device" if case == "full" else "Read-only file system") in lines[0]
            assert not (mnt / "state.json").exists() and not (mnt / "pids").exists()
            assert [p for p in _tree(mnt) - before if "tmp" in p] == []
        finally:
            if up.returncode == 0:  # never leave a cluster behind, even when the promise broke
                subprocess.run([*HYPERSPARK, "down"], env=env, capture_output=True, timeout=300)
    finally:
        unmount(mnt)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}
