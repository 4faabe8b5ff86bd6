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

Processes are started detached (own session, reparented away from the CLI) so
that they outlive the command that started them, and they are stopped only by
the pids recorded here: never by name.
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

from hyperspark.ops.model import OpsError
from hyperspark.ops.util.files import write_atomic
from hyperspark.ops.util.proc import pid_alive, pid_cmdline, terminate

ENV_STATE_DIR = "HYPERSPARK_STATE_DIR"

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
            return json.loads(path.read_text())
        except FileNotFoundError:
            return default
        except json.JSONDecodeError as exc:
            raise OpsError(f"corrupt state file {path}: {exc}") from exc

    def write_json(self, name: str, data: Any) -> None:
        with state_write(self.root / name):
            write_atomic(self.root / name, json.dumps(data, indent=2, sort_keys=True) + "\n")

    # -- runs -------------------------------------------------------------
    def record_run(self, run_id: str, output_uri: str) -> None:
        runs = self.read_json("runs.json", {})
        runs[run_id] = output_uri
        self.write_json("runs.json", runs)

    def runs(self) -> dict[str, str]:
        return dict(self.read_json("runs.json", {}))

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
        with state_write(self.pid_file(name)):
            write_atomic(self.pid_file(name), f"{pid}\n")

    def read_pid(self, name: str) -> int | None:
        try:
            return int(self.pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

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

        A pid can be reused after a reboot; our daemons carry the state dir in
        their command line (properties file, work dir), which we check.
        """
        pid = self.read_pid(name)
        if pid is None or not pid_alive(pid):
            return None
        if str(self.root) not in pid_cmdline(pid):
            return None
        return pid

    # -- processes --------------------------------------------------------
    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> int:
        """Start ``argv`` detached, log to ``logs/<name>.log``, record its pid; return the pid."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_file(name)
        with log.open("ab") as fh:
            fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(argv)}\n".encode())
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
