"""Safe purge and pid checks, on real directories and real processes (no Spark).

* ``down --purge`` deletes only inside a dir that carries HyperSpark's marker, lists what it deletes, and
  needs ``--yes`` (no TTY here): before, it removed ``conf/``, ``work/``, ``logs/``... of any ``--state-dir``.
* a recorded pid is ours only with the recorded start time and a command line naming a path INSIDE the state
  dir: before, ``/x/state`` owned a process of ``/x/state-2`` (substring match) and any later process that got
  the pid.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from hyperspark.ops.cli import cli
from hyperspark.ops.state import StateDir
from hyperspark.ops.util.proc import terminate

MARKER = ".hyperspark-state"  # what `up` (any state write) leaves in a dir HyperSpark made


def hs(state: Path, *args: str):
    return CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(state), *args], prog_name="hyperspark")


def _someone_elses_dir(root: Path) -> list[Path]:
    paths = [root / "conf" / "app.conf", root / "work" / "thesis.tex", root / "logs" / "2025.log",
             root / "state.json", root / "notes.txt"]
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("{}\n" if p.suffix == ".json" else "not HyperSpark's\n")
    return paths


def test_purge_refuses_a_dir_without_the_marker(tmp_path: Path) -> None:
    theirs = _someone_elses_dir(tmp_path / "home")
    res = hs(tmp_path / "home", "down", "--purge", "--yes")
    assert res.exit_code == 1
    assert res.output.strip().count("\n") == 0 and f"has no {MARKER} marker" in res.output, res.output
    assert "Traceback" not in res.output
    assert all(p.exists() for p in theirs)


def test_purge_lists_what_it_deletes_and_needs_yes(tmp_path: Path) -> None:
    root = tmp_path / "state"
    state = StateDir(root)
    state.write_json("state.json", {"master_port": 1})  # HyperSpark made this dir: marked, 0700
    assert (root / MARKER).is_file() and stat.S_IMODE(os.stat(root).st_mode) == 0o700
    for sub in ("logs/master.log", "conf/spark-daemons.conf", "work/worker-1/x"):
        (root / sub).parent.mkdir(parents=True, exist_ok=True)
        (root / sub).write_text("x")
    (root / "mine.txt").write_text("a file the user put here")

    res = hs(root, "down", "--purge")  # not a TTY: listed, refused without --yes, nothing deleted
    assert res.exit_code == 2 and "add --yes" in res.output
    assert f"{root / 'logs'}" in res.output and f"{root / 'conf'}" in res.output
    assert (root / "logs" / "master.log").exists() and (root / "state.json").exists()

    res = hs(root, "down", "--purge", "--yes")
    assert res.exit_code == 0, res.output
    assert not (root / "logs").exists() and not (root / "conf").exists() and not (root / "work").exists()
    assert not (root / "state.json").exists()
    assert (root / "mine.txt").read_text() == "a file the user put here"  # only what HyperSpark writes goes


def test_an_existing_dir_with_other_files_is_not_marked(tmp_path: Path) -> None:
    theirs = _someone_elses_dir(tmp_path / "home")
    StateDir(tmp_path / "home").write_json("runs.json", {})
    assert not (tmp_path / "home" / MARKER).exists()
    assert hs(tmp_path / "home", "down", "--purge", "--yes").exit_code == 1
    assert all(p.exists() for p in theirs)


@pytest.fixture
def sleeper(tmp_path: Path):
    """A real process whose command line names a file in ``<tmp>/state-2`` (a sibling state dir)."""
    sibling = tmp_path / "state-2" / "conf"
    sibling.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(sibling / "x.conf")])
    try:
        yield proc
    finally:
        terminate(proc.pid, timeout=5, group=False, child=proc)


def test_a_sibling_dirs_process_is_not_ours(tmp_path: Path, sleeper) -> None:
    state = StateDir(tmp_path / "state")
    state.write_pid("master", sleeper.pid)
    assert state.owned_alive("master") is None  # "<tmp>/state" is a prefix of "<tmp>/state-2/...", not a parent
    StateDir(tmp_path / "state-2").write_pid("master", sleeper.pid)
    assert StateDir(tmp_path / "state-2").owned_alive("master") == sleeper.pid


def test_a_reused_pid_with_another_start_time_is_not_ours(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(state.root / "conf" / "x")])
    try:
        # until the child has exec'd, its command line is still pytest's (a loaded machine shows it)
        deadline = time.monotonic() + 30
        while str(state.root) not in " ".join(psutil.Process(proc.pid).cmdline()) and time.monotonic() < deadline:
            time.sleep(0.05)
        state.write_pid("master", proc.pid)
        assert state.owned_alive("master") == proc.pid
        pid, started = state.read_pid_record("master")
        assert started is not None and abs(started - time.time()) < 120
        # the same pid recorded with another start time: the process that had it is gone, this one is not it
        state.pid_file("master").write_text(f"{pid} {started - 3600:.3f}\n")
        assert state.owned_alive("master") is None
        assert not state.stop("master") and proc.poll() is None  # never signalled: not ours
    finally:
        terminate(proc.pid, timeout=5, group=False, child=proc)
