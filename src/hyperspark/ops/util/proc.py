"""Processes on psutil: is it alive, what is its command line, stop it (and its group) for good."""
from __future__ import annotations

import os
import signal
import subprocess

import psutil

from hyperspark.ops.util.poll import poll_until


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie (a killed child not yet reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def pid_cmdline(pid: int) -> str:
    """The command line as one string ('' when the process is gone or unreadable)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return ""


def group_members(pgid: int) -> list[int]:
    """Live pids in process group ``pgid`` (a daemon, its executors and their Python workers)."""
    out = []
    for p in psutil.process_iter(["status"]):
        try:
            if p.info["status"] in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                continue
            if os.getpgid(p.pid) == pgid:
                out.append(p.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid`` (its whole tree), or just ``pid`` if it leads none."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def terminate(pid: int, timeout: float = 15.0, group: bool = True, child: subprocess.Popen | None = None) -> bool:
    """SIGTERM, wait up to ``timeout``, then SIGKILL: the one stop routine. True if it was running.

    ``group`` signals the whole process group ``pid`` leads (executors and Python workers go with
    their daemon); ``child`` is our own Popen of ``pid``, reaped so that no zombie lingers.
    """

    def alive() -> bool:
        leader = child.poll() is None if child is not None and child.pid == pid else pid_alive(pid)
        return leader or (group and bool(group_members(pid)))

    if not alive():
        return False
    send = signal_group if group else _kill
    send(pid, signal.SIGTERM)
    if not poll_until(lambda: not alive(), timeout, interval=0.2):
        send(pid, signal.SIGKILL)
        poll_until(lambda: not alive(), 10.0, interval=0.1)
    if child is not None:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    return True


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def own_session_dying_with_parent(sig: int = signal.SIGKILL):
    """A ``preexec_fn``: a new session (Ctrl-C at the terminal does not reach the child directly) that
    still ends when the process that started it dies, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``).

    Without it, ``kill -9`` of ``hyperspark submit`` (or of its process group) left the driver running
    in its own session, still writing the run that a later ``--resume`` then wrote as well.
    """
    parent = os.getpid()

    def preexec() -> None:
        os.setsid()
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # not Linux: the new session alone, as before
            return
        if os.getppid() != parent:  # the parent died before prctl: follow it now
            os.kill(os.getpid(), sig)

    return preexec
