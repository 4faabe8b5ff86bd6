"""The executor side of the pull executor (``pull.py``): the body of one long-lived trial task, and the
watchdog process that ends a trial past ``trial_timeout``.

A task connects to the driver, says hello (or which import failed), then loops: receive a trial, evaluate
it while a thread sends heartbeats, send the row. With a time limit, a :class:`Watchdog` child process is
armed for each trial and SIGKILLs this Python worker when the trial runs past the limit plus
:data:`KILL_GRACE_S`: it must be another PROCESS, because a C extension holding the GIL (or a regex
backtracking forever) stops every thread of this one. Spark then sees the task's worker die; the driver has
already recorded the ``timeout`` row and a monitor starts another task.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading

from hyperspark.job.executors.trial import TrialContext, evaluate, executor_identity, preload
from hyperspark.job.listener import connect

#: a trial task's connect + handshake to the driver (the driver handshakes every connection on its own thread)
CONNECT_TIMEOUT_S = 60.0
#: the executor's watchdog kills a trial's Python worker this long after trial_timeout (the driver records
#: the ``timeout`` row at trial_timeout, then drops the connection)
KILL_GRACE_S = 2.0


def pull_task(address, authkey: bytes, ctx: TrialContext, bc, job_no: int, beat_s: float, limit_s, _it):
    """The body of one long-lived task: hello (or an import problem), then trials until ``stop``. With a
    ``limit_s`` (trial_timeout) a watchdog PROCESS kills this Python worker when a trial runs past it plus
    :data:`KILL_GRACE_S` (a process outside this one: a C call holding the GIL stops every thread here)."""
    from pyspark import TaskContext

    tc = TaskContext.get()
    part, attempt = (tc.partitionId(), tc.attemptNumber()) if tc is not None else (0, 0)
    eid, host = executor_identity()
    conn = connect(address, authkey, timeout=CONNECT_TIMEOUT_S)  # a driver that does not answer: an error
    lock = threading.Lock()

    def send(msg) -> None:
        with lock:
            conn.send(msg)

    done = 0
    dog = Watchdog(limit_s + KILL_GRACE_S) if limit_s else None
    try:
        problem = preload(ctx)  # before the broadcast: an unimportable class inside it would fail to unpickle
        if problem is not None:
            send(("problem", job_no, part, eid, host, problem))
            return [done]
        X, y, folds = bc.value  # once per task; the reused Python worker keeps it for later tasks too
        send(("hello", job_no, part, attempt, eid, host, int(len(X) if hasattr(X, "__len__") else 0)))
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            _, lease, params, budget, job_key = msg
            quiet = threading.Event()
            beater = threading.Thread(target=_beat, args=(send, quiet, beat_s), daemon=True)
            beater.start()
            try:
                if dog is not None:
                    dog.arm()
                row = evaluate(ctx, params, budget, X, y, folds, job_key)
            finally:
                if dog is not None:
                    dog.disarm()
                quiet.set()
                beater.join()
            send(("result", lease, row))
            done += 1
    except (EOFError, OSError):
        pass  # the driver closed this connection (lease taken back, search over): end quietly
    finally:
        conn.close()
        if dog is not None:
            dog.close()
    return [done]


#: the watchdog, run as ``python -c`` with the worker's pid: each line on stdin is a limit in seconds (arm) or
#: ``end`` (disarm); past an armed limit it SIGKILLs the worker; EOF (the worker ended or died) ends it
_WATCHDOG = r"""
import os, select, signal, sys, time
pid, fd, deadline, buf = int(sys.argv[1]), sys.stdin.fileno(), None, b""
while True:
    wait = None if deadline is None else max(0.0, deadline - time.monotonic())
    if not select.select([fd], [], [], wait)[0]:
        os.kill(pid, signal.SIGKILL)
        break
    data = os.read(fd, 4096)
    if not data:
        break
    *lines, buf = (buf + data).split(b"\n")
    for ln in lines:
        deadline = None if ln == b"end" else time.monotonic() + float(ln)
"""


class Watchdog:
    """A child process that SIGKILLs this process when an armed trial runs past ``limit_s`` seconds."""

    def __init__(self, limit_s: float):
        self.limit_s = limit_s
        self.proc = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid())], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _say(self, line: str) -> None:
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass

    def arm(self) -> None:
        self._say(f"{self.limit_s:.3f}")

    def disarm(self) -> None:
        self._say("end")

    def close(self) -> None:
        try:
            self.proc.stdin.close()  # EOF: the watchdog ends
            self.proc.wait(5)
        except (OSError, ChildProcessError, subprocess.TimeoutExpired):
            pass


def _beat(send, quiet: threading.Event, every: float) -> None:
    while not quiet.wait(every):
        try:
            send(("beat",))
        except OSError:
            return
