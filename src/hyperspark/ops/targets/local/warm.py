"""The warm tuning driver of the local target: one long-lived SparkSession that later submits reuse.

``hyperspark up --warm`` calls :func:`start` after the cluster is up: it writes a random authkey
(``<state>/warm/authkey``, mode 0600) and spark-submits ``jobs/warm_server.py`` (the job's
``hyperspark.job.warm_server``) detached, with the same master and conf as a cold submit plus dynamic
allocation, records its pid (``pids/warm.pid``, log ``logs/warm.log``) and waits for the server's
``<state>/warm/ready.json`` (its port, pid, app id).

The submit path offers every run to ``LocalTarget.launch_warm`` (:func:`launch`) first: when a warm driver
is alive (and the request needs nothing a running session cannot give: ``--conf``, multi-core trials), the
run goes there as a :class:`~hyperspark.job.protocol.WarmRunRequest` (the job's own command-line model) and
every line it prints is fed to the same :class:`DriverOutput` a cold spark-submit feeds. So the submit path
(run id, log, RESULT parsing, runs.json, summary) is the same for both. ``down`` stops it by pid
(:func:`stop`). Which targets have one is their ``Target.supports_warm`` (``Target.require_warm`` refuses the others).

This module never imports the target: it works on any :class:`WarmHost` (``LocalTarget`` is one).
"""
from __future__ import annotations

import json
import os
import secrets
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

from hyperspark.job.listener import connect
from hyperspark.job.protocol import FAILED_PREFIX, WarmMessage, WarmRunRequest, one_line

from hyperspark.ops import spark_api
from hyperspark.ops.model import NoClusterError, OpsError, WarmDriverStatus
from hyperspark.ops.state import StateDir
from hyperspark.ops.targets.request import DriverOutput, DriverRequest
from hyperspark.ops.util import secrets as secret_conf
from hyperspark.ops.util.files import write_atomic
from hyperspark.ops.util.poll import poll_until
from hyperspark.ops.util.proc import pid_alive

NAME = "warm"  # pids/warm.pid, logs/warm.log
HOST = "127.0.0.1"
START_TIMEOUT = float(os.environ.get("HYPERSPARK_WARM_START_TIMEOUT", "180"))
#: connect + handshake: a warm driver that does not answer within this is not used (the run goes cold)
CONNECT_TIMEOUT = 20.0
#: while a run waits or runs, how often the client checks that the warm driver's process is still there
ALIVE_CHECK_S = 5.0


class WarmHost(Protocol):
    """What the warm driver needs of its target."""

    name: str
    state: StateDir

    @property
    def master_ui(self) -> str: ...

    def master_pid(self) -> int | None: ...

    def env(self) -> dict[str, str]: ...

    def spark_submit_argv(self, conf: dict[str, str], script: Path, args: list[str]) -> list[str]: ...


def dynamic_allocation_conf() -> dict[str, str]:
    """What the warm driver adds to a cold submit's conf: executors come and go with the work.

    Executors idle for ``HYPERSPARK_WARM_IDLE_TIMEOUT`` (default 60s, Spark's own default) go back to the
    cluster; the next run asks for them again (new executors: their Python workers start cold).
    """
    return {
        "spark.dynamicAllocation.enabled": "true",
        # no external shuffle service here: executors holding shuffle data are kept until it is unused
        "spark.dynamicAllocation.shuffleTracking.enabled": "true",
        "spark.dynamicAllocation.executorIdleTimeout": os.environ.get("HYPERSPARK_WARM_IDLE_TIMEOUT", "60s"),
        "spark.dynamicAllocation.minExecutors": "0",
    }


def _dir(target: WarmHost) -> Path:
    return target.state.root / "warm"


def _authkey_file(target: WarmHost) -> Path:
    return _dir(target) / "authkey"


def _ready_file(target: WarmHost) -> Path:
    return _dir(target) / "ready.json"


def server_script() -> Path:
    """The warm driver's spark-submit entry point ``jobs/warm_server.py`` (checkout or wheel)."""
    from hyperspark.ops import resources

    path = resources.find("jobs/warm_server.py")
    if path is None:
        raise OpsError("the warm driver's entry point jobs/warm_server.py is missing")
    return path


def status(target: WarmHost) -> WarmDriverStatus:
    """Up = the recorded pid runs (and is ours) and the server said where it listens."""
    pid = target.state.owned_alive(NAME)
    ready = _read_ready(target) if pid is not None else None
    if pid is None or ready is None:
        return WarmDriverStatus(running=False)
    return WarmDriverStatus(running=True, pid=pid, address=f"{HOST}:{ready['port']}", app_id=ready.get("app_id"))


def _read_ready(target: WarmHost) -> dict | None:
    try:
        data = json.loads(_ready_file(target).read_text())
        return data if isinstance(data, dict) and isinstance(data.get("port"), int) else None
    except (OSError, ValueError):
        return None


def start(target: WarmHost) -> WarmDriverStatus:
    """Start the warm driver (or keep the one that runs); block until it serves. Only a target with
    ``supports_warm`` calls this (its ``start_warm``; ``Target.require_warm`` refuses the others)."""
    if target.master_pid() is None:
        raise NoClusterError(target.name)
    current = status(target)
    if current.running:
        return current
    target.state.stop(NAME)  # a half-started leftover, by its recorded pid
    key_file, ready = _authkey_file(target), _ready_file(target)
    ready.unlink(missing_ok=True)
    write_atomic(key_file, secrets.token_hex(32) + "\n", mode=0o600)
    os.chmod(key_file, 0o600)  # also when an older file of another mode was replaced
    argv = target.spark_submit_argv(dynamic_allocation_conf(), server_script(),
                                    ["--authkey-file", str(key_file), "--ready-file", str(ready)])
    pid = target.state.spawn(NAME, argv, target.env())

    def done() -> bool:
        return ready.exists() or target.state.owned_alive(NAME) is None

    try:
        poll_until(done, START_TIMEOUT, interval=0.3)
    finally:
        secret_conf.remove_properties(argv)  # its JVM read the secret confs at its start
    if not ready.exists():
        alive = target.state.owned_alive(NAME) is not None
        target.state.stop(NAME)
        log = target.state.log_file(NAME)
        why = f"no answer within {START_TIMEOUT:.0f} s" if alive else f"it exited: {_last_line(log)}"
        raise OpsError(f"the warm driver (pid {pid}) did not start ({why}); see {log}")
    return status(target)


def stop(target: WarmHost) -> bool:
    """Stop the warm driver (JVM and its Python, one process group) by its recorded pid."""
    stopped = target.state.stop(NAME)
    _ready_file(target).unlink(missing_ok=True)
    _authkey_file(target).unlink(missing_ok=True)
    return stopped


def cold_reason(request: DriverRequest) -> str | None:
    """Why this request needs a fresh driver (None: the warm one can run it as a cold one would)."""
    if request.conf:
        return "--conf needs a fresh driver"
    from hyperspark.job.resources import needs_profile, request_of
    from hyperspark.job.spec import load_spec

    try:
        spec = load_spec(request.spec_path, list(request.overrides) or None)
    except Exception:  # noqa: BLE001 - the job reports a bad spec itself (the same line either way)
        return None
    if spec.threads_per_trial != 1:
        return f"threads_per_trial={spec.threads_per_trial} needs a fresh driver (the warm one runs 1-core trials)"
    if needs_profile(request_of(spec), 1):
        # the warm driver runs with dynamic allocation, where Spark's task resource profiles do not reuse
        # the running executors: a cold driver (dynamic allocation off) runs them
        return "resources need a fresh driver (the warm one runs with dynamic allocation)"
    return None


def launch(target: WarmHost, request: DriverRequest, output: DriverOutput) -> int | None:
    """Run ``request`` on the warm driver, every line to ``output``; its exit code, or None when there
    is no warm driver to use (the caller then starts a cold one)."""
    if request.cold:
        return None
    st = status(target)
    if not st.running:
        return None
    reason = cold_reason(request)
    if reason is not None:
        output.note(f"warm driver not used: {reason}")
        return None
    try:
        authkey = _authkey_file(target).read_text().strip().encode()
    except OSError as exc:
        output.note(f"warm driver not used: cannot read its authkey ({exc.strerror or exc})")
        return None
    master = spark_api.master_json(target.master_ui)
    alive = spark_api.alive_count(master) if master is not None else 0
    job = request.job(str(Path(request.spec_path).resolve()), [str(Path(p).resolve()) for p in request.packages])
    req = WarmRunRequest(**job.model_dump(), executors=alive or None)
    output.note(f"$ warm driver pid {st.pid} at {st.address} (app {st.app_id}): tune.py {' '.join(req.argv())}")
    host, port = st.address.rsplit(":", 1)
    try:
        conn = connect((host, int(port)), authkey, timeout=CONNECT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - refused, timed out, a wrong key, not ours: the run goes cold
        output.note(f"warm driver not used: it does not answer ({type(exc).__name__}: {exc})")
        return None
    with conn:
        try:
            conn.send_bytes(req.model_dump_json().encode())
        except OSError as exc:
            output.note(f"warm driver not used: it hung up ({exc})")
            return None
        return _relay(conn, output, st.pid, request.run_id)


def _relay(conn: Connection, output: DriverOutput, pid: int | None, run_id: str) -> int:
    """Every line the warm driver sends to ``output``, until its exit code. The run may wait behind
    another one: no deadline, but a warm driver whose process is gone ends the wait."""
    while True:
        try:
            while not conn.poll(ALIVE_CHECK_S):
                if pid is not None and not pid_alive(pid):
                    raise EOFError("the warm driver's process is gone")
            msg = WarmMessage.model_validate_json(conn.recv_bytes())
        except (EOFError, OSError, ValueError):
            output(f"{FAILED_PREFIX}the warm driver (pid {pid}) went away during the run; "
                   f"see `hyperspark logs warm`; rerun with --run-id {run_id} --resume")
            return 1
        if msg.kind == "exit":
            return int(msg.code if msg.code is not None else 1)
        output(msg.text or "")


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return one_line(lines[-1]) if lines else "no output"
