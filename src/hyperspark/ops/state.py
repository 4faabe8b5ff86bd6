"""The state dir: everything a target needs to find and stop what it started.

Layout (default ``~/.hyperspark/<target>``, override with ``--state-dir`` or
``HYPERSPARK_STATE_DIR``)::

    state.json        ports, worker size, storage kind: read back by every later command
    runs.json         run_id -> output URI, so ``results RUN_ID`` works without the spec
    pids/<name>.pid   one file per process we started (master, worker-1, namenode, ...)
    logs/<name>.log   stdout+stderr of that process; driver-<run_id>.log per submit
    conf/             generated Spark properties files
    work/<worker>     Spark worker work dirs (executor stdout/stderr)
    storage/          cluster storage when no HDFS runs
    .hyperspark-state the marker: this dir is HyperSpark's (``down --purge`` deletes nothing without it)

The dir is created 0700 (it holds authkeys, logs of command lines and pid files); the marker is
written when HyperSpark creates the dir (or finds it empty, or already its own). Pid files hold the pid and
the process's start time (psutil ``create_time``): a recorded pid is ours only when a process with that
pid AND that start time runs, and its command line (or working dir) names a path inside this dir: whole
paths, compared as paths, never as substrings (``/x/state`` does not own ``/x/state-2``'s processes).

Processes are started detached (own session, reparented away from the CLI) so
that they outlive the command that started them, and they are stopped only by
the pids recorded here: never by name. ``start:`` lines in their logs hide secrets
(:mod:`hyperspark.ops.util.secrets`).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import psutil

from hyperspark.ops.model import OpsError
from hyperspark.ops.util.files import write_atomic
from hyperspark.ops.util.proc import pid_alive, terminate
from hyperspark.ops.util.secrets import redact_argv, redact_uri

ENV_STATE_DIR = "HYPERSPARK_STATE_DIR"
#: the file that says a dir is a HyperSpark state dir (``down --purge`` needs it)
MARKER = ".hyperspark-state"
#: what ``down --purge`` may delete inside a marked state dir (nothing else, ever)
PURGEABLE = ("storage", "work", "logs", "conf", "hdfs", "pids", "warm", "mlflow", "connect", "crash", "spark-events",
             "packages", "spark-secret", "client-conf",  # the RPC secret (targets/local/auth.py)
             "state.json", "runs.json", "launches.json")
#: a recorded start time matches the running process within this many seconds (clock-tick rounding)
# psutil's create_time is boot time + the process's start ticks, and the kernel's boot time (/proc/stat btime,
# whole seconds) moves when the wall clock is adjusted: on a VM whose clock is slewed, the same process
# reads a second or more apart over a long run (seen in a 35-minute test run: every recorded daemon then
# looked "not ours"). 2 s still tells a process from a later one given the same pid (pids are not reused
# within seconds), and the command line / working dir check below must agree too.
_START_TOLERANCE_S = 2.0

# A tiny launcher: starts the daemon in its own session and exits at once, so
# the daemon is reparented to init (no zombies left in a long-lived caller such
# as a pytest session) and its process group id equals its pid.
_LAUNCHER = """
import subprocess, sys
log = open(sys.argv[1], "ab", buffering=0)
p = subprocess.Popen(sys.argv[3:], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                     cwd=sys.argv[2], start_new_session=True, close_fds=True)
print(p.pid, flush=True)
"""


@contextlib.contextmanager
def state_write(path: Path) -> Iterator[None]:
    """A full or read-only state dir is one line (write_atomic already removed its temporary file)."""
    try:
        yield
    except OSError as exc:
        raise OpsError(f"cannot write {path}: {exc.strerror or exc}") from None


def default_state_dir(target: str) -> Path:
    env = os.environ.get(ENV_STATE_DIR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".hyperspark" / target


class StateDir:
    """Files of one target's state dir; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    # -- the dir itself: private, marked ---------------------------------------
    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def ensure(self) -> Path:
        """The state dir, created 0700 with its marker when missing; an existing dir is marked only when
        it is empty, already ours, or a state dir from before the marker (a ``state.json`` and nothing but
        HyperSpark's own entries); an unmarked dir that holds other files is left as it is."""
        with state_write(self.root):
            existed = self.root.exists()
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not existed or self.is_ours() or self._looks_like_ours():
                os.chmod(self.root, 0o700)
                if not self.marker.exists():
                    write_atomic(self.marker, json.dumps({"hyperspark": "state dir", "created": time.time()}) + "\n",
                                 mode=0o600)
        return self.root

    def is_ours(self) -> bool:
        return self.marker.is_file()

    def _looks_like_ours(self) -> bool:
        names = {p.name for p in self.root.iterdir()}
        return not names or ("state.json" in names and names <= {*PURGEABLE, MARKER})

    def purge_plan(self) -> list[Path]:
        """What ``down --purge`` would delete (existing paths only); an OpsError when the dir is not marked
        as HyperSpark's: a ``--state-dir`` naming someone else's folder deletes nothing."""
        if not self.root.exists():
            return []
        if not self.is_ours() and self._looks_like_ours():
            self.ensure()  # a state dir from before the marker
        if not self.is_ours():
            raise OpsError(f"{self.root} has no {MARKER} marker: it is not a HyperSpark state dir (or predates "
                           "the marker); nothing deleted. Delete what you no longer need by hand")
        return [self.root / name for name in PURGEABLE if (self.root / name).exists()]

    def purge(self) -> list[Path]:
        """Delete what :meth:`purge_plan` lists, then the marker and the dir when nothing else is left."""
        import shutil

        plan = self.purge_plan()
        for path in plan:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if self.root.exists() and [p.name for p in self.root.iterdir()] == [MARKER]:
            self.marker.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.root.rmdir()
        return plan

    # -- paths ------------------------------------------------------------
    @property
    def pids_dir(self) -> Path:
        return self.root / "pids"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def conf_dir(self) -> Path:
        return self.root / "conf"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    @property
    def storage_dir(self) -> Path:
        return self.root / "storage"

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.pids_dir / f"{name}.pid"

    # -- json documents ---------------------------------------------------
    def read_json(self, name: str, default: Any = None) -> Any:
        path = self.root / name
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return default
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise OpsError(f"corrupt state file {path}: {exc}") from None
        if default is not None and not isinstance(data, type(default)):  # a hand-edited file of the wrong shape
            kind = {dict: "object", list: "array"}
            raise OpsError(f"corrupt state file {path}: expected a JSON {kind.get(type(default), 'value')}, got "
                           f"{kind.get(type(data), type(data).__name__)}; fix it or remove it")
        return data

    def write_json(self, name: str, data: Any) -> None:
        self.ensure()
        with state_write(self.root / name):
            write_atomic(self.root / name, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)

    # -- runs -------------------------------------------------------------
    def record_run(self, run_id: str, output_uri: str) -> None:
        runs = self.read_json("runs.json", {})
        runs[run_id] = redact_uri(output_uri)  # credentials in a URI never reach a state file
        self.write_json("runs.json", runs)

    def runs(self) -> dict[str, str]:
        runs = self.read_json("runs.json", {})
        bad = next((k for k, v in runs.items() if not isinstance(v, str) or "://" not in v), None)
        if bad is not None:  # run id -> output URI, nothing else
            raise OpsError(f"corrupt state file {self.root / 'runs.json'}: run {bad!r} maps to {runs[bad]!r}, "
                           "not an output URI; fix it or remove it")
        return runs

    def record_launch(self, run_id: str, spec_fingerprint: str, spec_path: str) -> None:
        """Every submit, before the driver starts (a run whose driver dies can still be resumed)."""
        launches = self.read_json("launches.json", {})
        prev = launches.get(run_id, {})
        launches[run_id] = {"fingerprint": spec_fingerprint, "spec": spec_path,
                            "first": prev.get("first", time.time()), "last": time.time()}
        self.write_json("launches.json", launches)

    def latest_launch(self, spec_fingerprint: str) -> str | None:
        """The run id most recently started with a spec of this fingerprint (``submit --resume``)."""
        launches = self.read_json("launches.json", {})
        same = [(v.get("first", 0), rid) for rid, v in launches.items() if v.get("fingerprint") == spec_fingerprint]
        return max(same)[1] if same else None

    # -- pids -------------------------------------------------------------
    def write_pid(self, name: str, pid: int) -> None:
        """``pid start-time``: the start time tells this process from a later one given the same pid."""
        try:
            started = f" {psutil.Process(pid).create_time():.3f}"
        except psutil.Error:
            started = ""
        self.ensure()
        with state_write(self.pid_file(name)):
            self.pids_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(self.pid_file(name), f"{pid}{started}\n", mode=0o600)

    def read_pid_record(self, name: str) -> tuple[int, float | None] | None:
        """``(pid, start time or None)`` as recorded (an older file holds the pid alone)."""
        try:
            parts = self.pid_file(name).read_text().split()
            return int(parts[0]), (float(parts[1]) if len(parts) > 1 else None)
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def read_pid(self, name: str) -> int | None:
        record = self.read_pid_record(name)
        return None if record is None else record[0]

    def remove_pid(self, name: str) -> None:
        self.pid_file(name).unlink(missing_ok=True)

    def recorded(self) -> dict[str, int]:
        """Every recorded pid by name (dead or alive)."""
        out: dict[str, int] = {}
        if self.pids_dir.is_dir():
            for f in sorted(self.pids_dir.glob("*.pid")):
                pid = self.read_pid(f.stem)
                if pid is not None:
                    out[f.stem] = pid
        return out

    def owned_alive(self, name: str) -> int | None:
        """The pid recorded for ``name`` if it still runs AND is ours.

        A pid can be reused: the process must have the recorded start time, and its command line (or its
        working dir) must name a path inside this state dir (properties file, work dir): compared as whole
        paths (see the module).
        """
        record = self.read_pid_record(name)
        if record is None or not pid_alive(record[0]):
            return None
        pid, started = record
        try:
            proc = psutil.Process(pid)
            if started is not None and abs(proc.create_time() - started) > _START_TOLERANCE_S:
                return None  # another process that got the same pid
            if self._names_root(proc):
                return pid
        except psutil.Error:
            return None
        return None

    def _names_root(self, proc: psutil.Process) -> bool:
        try:
            args = proc.cmdline()
        except psutil.Error:
            args = []
        pieces = [p for a in args for part in a.split("=") for p in part.split(":")]
        try:
            pieces.append(proc.cwd())
        except psutil.Error:
            pass
        return any(self.contains(p) for p in pieces if p.startswith("/"))

    def contains(self, path: str) -> bool:
        """``path`` is this state dir or inside it (whole path components; ``..`` resolved lexically)."""
        p = os.path.normpath(path)
        root = str(self.root)
        return p == root or p.startswith(root.rstrip("/") + "/")

    # -- processes --------------------------------------------------------
    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> int:
        """Start ``argv`` detached, log to ``logs/<name>.log``, record its pid; return the pid."""
        self.ensure()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_file(name)
        with log.open("ab") as fh:
            fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(redact_argv(argv))}\n".encode())
        out = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(log), str(cwd or self.root), *argv],
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0 or not out.stdout.strip().isdigit():
            reason = (out.stderr.strip().splitlines() or ["no output"])[-1]
            raise OpsError(f"could not start {name} ({argv[0]}): {reason}")
        pid = int(out.stdout.strip())
        self.write_pid(name, pid)
        return pid

    def stop(self, name: str, timeout: float = 15.0) -> bool:
        """Stop the process recorded as ``name`` and its process group; True if it was running.

        SIGTERM first (a Spark worker then kills its executors), SIGKILL to the
        group after ``timeout``. The group takes executors and Python workers
        that the daemon started along with it.
        """
        pid = self.owned_alive(name)
        if pid is None:
            self.remove_pid(name)
            return False
        terminate(pid, timeout=timeout, group=True)
        self.remove_pid(name)
        return True
