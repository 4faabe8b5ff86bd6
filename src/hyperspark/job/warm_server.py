"""The warm tuning driver: ONE SparkSession that serves run after run (``hyperspark up --warm``).

Started with spark-submit (entry point ``jobs/warm_server.py``), with the same master and conf as a cold
submit plus dynamic allocation (so executors idle for a while go back to the cluster). It listens on
``multiprocessing.connection.Listener`` at 127.0.0.1 with an ``authkey`` read from a 0600 file the ops
side wrote, and writes ``--ready-file`` (JSON: port, pid, app id) once the session and the listener are up.

One connection = one run: the client sends a :class:`~hyperspark.job.protocol.WarmRunRequest` (what
``tune.py``'s command line carries), the server runs :func:`hyperspark.job.run.run_request` (the very
function a cold ``tune.py`` runs, with this session instead of a new one) and sends every line the job
prints (progress, RESULT, ``hyperspark: error:``) as a :class:`~hyperspark.job.protocol.WarmMessage`,
then the exit code. Runs are served one at a time: every connection is authenticated at once on its own
thread (:class:`~hyperspark.job.listener.SafeListener`: a wrong key, a port probe, HTTP bytes or a silent
client end that connection only), then waits in a queue until the run before it is over. A failed run (bad
spec, failed trials, a client gone mid-run) ends that run only.

Spark's own log (the JVM's log4j lines) goes to the server's log file, not to the client.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import queue
import signal
import sys
import threading
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import ValidationError

from hyperspark.job.cli import run_request
from hyperspark.job.listener import SafeListener
from hyperspark.job.redact import redact_argv
from hyperspark.job.resources import dynamic_allocation
from hyperspark.job.session import request_total_executors, start_session
from hyperspark.job.protocol import ERROR_PREFIX, WarmMessage, WarmRunRequest, one_line

HOST = "127.0.0.1"
APP_NAME = "hyperspark-warm"
#: seconds an authenticated client has to send its request once its turn comes
REQUEST_TIMEOUT_S = 30.0


class ClientGone(OSError):
    """The client hung up (Ctrl-C, killed): the run is abandoned."""


class LineWriter(io.TextIOBase):
    """A text stream that sends each complete line to the client as a WarmMessage (thread-safe)."""

    def __init__(self, conn: Connection, stream: str, lock: threading.Lock) -> None:
        super().__init__()
        self._conn = conn
        self._stream = stream
        self._lock = lock
        self._partial = ""
        self.gone = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        with self._lock:
            self._partial += text
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                self._send(line)
        return len(text)

    def close_partial(self) -> None:
        with self._lock:
            if self._partial:
                line, self._partial = self._partial, ""
                self._send(line)

    def _send(self, line: str) -> None:
        if self.gone:  # the client left: the rest of the run's output is dropped
            return
        try:
            self._conn.send_bytes(WarmMessage(kind="line", stream=self._stream, text=line).model_dump_json().encode())
        except OSError as exc:
            self.gone = True
            raise ClientGone(f"the client went away: {exc}") from None


class PackageGuard:
    """User code shipped with ``--package`` stays imported (driver and reused Python workers) for the life
    of the session: a package whose content changed since an earlier run would run stale code. Refused."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}  # top-level module name -> sha256 of the zip/dir it came from

    def check(self, paths: list[str]) -> str | None:
        import hashlib
        import zipfile

        from hyperspark.job.package import zip_bytes

        found: dict[str, str] = {}
        for raw in paths:
            path = Path(raw)
            try:
                if path.is_dir():
                    blob = zip_bytes(path)
                elif zipfile.is_zipfile(path):
                    blob = path.read_bytes()
                else:
                    continue  # run_request reports it (one line, exit 2)
                digest = hashlib.sha256(blob).hexdigest()
                names = {n.split("/", 1)[0].removesuffix(".py")
                         for n in zipfile.ZipFile(io.BytesIO(blob)).namelist() if n.strip("/")}
            except (OSError, zipfile.BadZipFile):
                continue
            for name in names:
                if self._seen.get(name, digest) != digest:
                    return (f"--package {raw}: {name} changed since this warm driver imported it; submit with "
                            "--cold, or restart the warm driver (hyperspark down; hyperspark up --warm)")
                found[name] = digest
        self._seen.update(found)
        return None


def serve_one(conn: Connection, spark, log=print, guard: PackageGuard | None = None) -> int:
    """Read one request, run it, stream its output, send the exit code; returns the exit code."""
    try:
        if not conn.poll(REQUEST_TIMEOUT_S):
            return -1  # authenticated but silent: not worth the session's time
        req = WarmRunRequest.model_validate_json(conn.recv_bytes(1 << 20))
    except (EOFError, OSError):
        return -1  # connected and left without a request
    except ValidationError as exc:
        _send(conn, WarmMessage(kind="line", stream="stderr", text=f"{ERROR_PREFIX}bad warm request: {one_line(exc)}"))
        _send(conn, WarmMessage(kind="exit", code=2))
        return 2
    stale = guard.check(req.packages) if guard is not None else None
    if stale is not None:
        _send(conn, WarmMessage(kind="line", stream="stderr", text=f"{ERROR_PREFIX}{stale}"))
        _send(conn, WarmMessage(kind="exit", code=2))
        return 2
    lock = threading.Lock()
    out, err = LineWriter(conn, "stdout", lock), LineWriter(conn, "stderr", lock)
    log(f"run: tune.py {' '.join(redact_argv(req.argv()))} (executors: {req.executors})")
    started = time.monotonic()
    done = threading.Event()

    def client_gone() -> None:  # Ctrl-C or a killed client: cancel NOW, not at the run's next line
        out.gone = err.gone = True
        log("the client went away: cancelling the run's Spark jobs")
        _cancel_all(spark, log)  # the trial tasks die with them; the run then ends

    threading.Thread(target=_watch_client, args=(conn, done, client_gone), name="client-watch", daemon=True).start()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = run_request(spark, req.argv(), expected_executors=req.executors)
            except SystemExit as exc:  # argparse: a bad command line (its usage line went to the client)
                code = exc.code if isinstance(exc.code, int) else 2
            finally:
                out.close_partial()
                err.close_partial()
    except ClientGone as exc:  # raised by a print of the run: the run ends, the server does not
        log(str(exc))
        code = 130
    except Exception:  # noqa: BLE001 - run_request handles the job's errors; this is the server's own
        log(traceback.format_exc())
        code = 1
    finally:
        done.set()
    if out.gone or err.gone:
        _cancel_all(spark, log)  # nobody waits for this run: free the cluster
    release_executors(spark)
    log(f"run: exit {code} after {time.monotonic() - started:.1f} s")
    if not (out.gone or err.gone):
        _send(conn, WarmMessage(kind="exit", code=code))
    return code


def _cancel_all(spark, log) -> None:
    try:
        spark.sparkContext.cancelAllJobs()
    except Exception as exc:  # noqa: BLE001 - a stopped context: main() sees it and exits
        log(f"could not cancel the run's jobs: {one_line(exc, 200)}")


def session_stopped(spark) -> bool:
    """The session's JVM context is gone (the JVM was signalled): nothing more can be served."""
    try:
        return bool(spark.sparkContext._jsc.sc().isStopped())
    except Exception:  # noqa: BLE001 - the gateway itself is gone
        return True


def _watch_client(conn: Connection, done: threading.Event, on_gone) -> None:
    """The client sends nothing after its request, so a readable connection means it hung up."""
    while not done.is_set():
        try:
            if conn.poll(0.5):
                conn.recv_bytes()
        except (EOFError, OSError):
            if not done.is_set():
                on_gone()
            return


def release_executors(spark) -> None:
    """After a run, hand the executor count back to the allocation manager.

    ``session.wait_for_executors`` asked the cluster manager for N executors before the run. Without a reset
    that request would stay in force: an executor removed after the idle timeout would be replaced at
    once (a run that failed before its first task never lets the allocation manager take over). Target
    0 keeps the registered executors (warm for the next run) until the idle timeout removes them.
    """
    sc = spark.sparkContext
    if sc.master.startswith("local") or not dynamic_allocation(sc):
        return
    try:
        request_total_executors(sc, 0)
    except Exception as exc:  # noqa: BLE001 - the next run asks again; idle executors then stay
        print(f"warm driver: could not reset the executor request: {exc}", file=sys.stderr, flush=True)


def _send(conn: Connection, msg: WarmMessage) -> None:
    try:
        conn.send_bytes(msg.model_dump_json().encode())
    except OSError:
        pass


def _write_ready(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data) + "\n")
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="warm_server.py", description="HyperSpark warm tuning driver")
    p.add_argument("--authkey-file", required=True, help="file holding the connection's authkey (mode 0600)")
    p.add_argument("--ready-file", required=True, help="written (port, pid, app id) once serving")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} warm driver: {msg}", file=sys.__stderr__, flush=True)

    try:
        authkey = Path(args.authkey_file).read_bytes().strip()
    except OSError as exc:
        print(f"{ERROR_PREFIX}cannot read --authkey-file: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 2
    if not authkey:
        print(f"{ERROR_PREFIX}--authkey-file {args.authkey_file} is empty", file=sys.stderr, flush=True)
        return 2
    stopping = threading.Event()

    def on_term(signum, frame):  # `hyperspark down`: finish with this run (interrupted), then exit
        stopping.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    ready = Path(args.ready_file)
    spark = listener = None
    try:
        t0 = time.monotonic()
        spark = start_session(APP_NAME)
        waiting: queue.Queue[Connection] = queue.Queue()  # authenticated clients, in the order they came
        listener = SafeListener((HOST, args.port), authkey, waiting.put, name="warm", report=log)
        port = listener.address[1]
        _write_ready(ready, {"port": port, "pid": os.getpid(), "app_id": spark.sparkContext.applicationId,
                             "session_seconds": round(time.monotonic() - t0, 3)})
        log(f"serving on {HOST}:{port} (app {spark.sparkContext.applicationId})")
        guard = PackageGuard()
        while not stopping.is_set():
            try:
                conn = waiting.get(timeout=0.5)
            except queue.Empty:
                continue
            with conn:
                serve_one(conn, spark, log, guard)
            if session_stopped(spark):
                log("the Spark context is stopped: exiting (`hyperspark up --warm` starts a new one)")
                return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        ready.unlink(missing_ok=True)
        if listener is not None:
            listener.close()
        if spark is not None:
            try:
                spark.stop()
            except Exception:  # noqa: BLE001 - the JVM may be going down with us
                pass
