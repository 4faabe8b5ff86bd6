"""Long-lived trial tasks: one Spark task per slot pulls trials from a driver-side queue (the default).

Why: one Spark job per trial (``trial_tasks: per_trial``, :class:`~.per_trial.PerTrialExecutor`) costs a
job submission, a stage, a task launch, a closure pickle and a result fetch for EVERY trial: about 70 ms
of driver CPU per trial on a small machine, and the driver becomes the ceiling on trials per second.
Here the driver launches ONE Spark job with one task per slot; each task connects back to the driver,
loads the broadcast and imports the model library once, then loops: receive a trial, evaluate it, send
the row back. Per trial the driver only sends a small message and receives the row.

The seam is unchanged: :meth:`PullExecutor.submit` puts a Job in the queue and returns a Future, so the
in-flight loop (``search/loop.py``), schedulers and searchers do not know which executor runs.

Transport: :mod:`multiprocessing.connection` over TCP (length-prefixed pickles) with an HMAC challenge
on a random per-search key that travels only inside the task closure. The driver listens on
``spark.driver.bindAddress`` (else ``spark.driver.host``), the address executors already use to reach
the driver, on ``spark.hyperspark.pullPort`` (default 0: any free port; Kubernetes pins 7080 so its
NetworkPolicy can allow it). The listener is a :class:`~hyperspark.job.listener.SafeListener`: each
handshake on its own thread with a deadline, so a port probe, HTTP bytes, a wrong key or a silent client ends
that connection only; trial tasks connect with the same deadline (``listener.connect``).

Pipelining: a busy task is sent its NEXT trial while the current one runs (``spark.hyperspark.prefetch``,
default 1; 0 turns it off), so it starts the next the moment it sends a row, without waiting for the
driver. Only when no idle task is waiting for work: a free slot is never starved to fill a busy one's
pipeline. At the very end of a search a prefetched trial may wait up to one trial length behind the
running one while another slot is already idle; with equal trials there is no such wait.

Leases (exactly-once results):

* A trial handed to a task (running or prefetched) is leased to that connection. The task sends a heartbeat every
  ``lease / 6`` seconds while the trial runs. If the connection drops (the executor or its Python worker
  died, the host went away) or no message arrives within ``spark.hyperspark.leaseSeconds`` (default 60;
  a hung or stopped process), the driver closes that connection and puts the trial back at the FRONT of
  the queue; the next free task runs it. A row is accepted only from the connection holding the lease,
  and a Future is completed once, so every trial is recorded exactly once.
* Spark retries a task whose executor was lost, and that retry connects like any other task. A monitor
  thread also keeps one task per usable slot: when slots are added (scale up) or a task is gone, it
  launches more tasks (an extra task that finds no free slot waits in Spark's queue and is cancelled at
  the end).
* Decommissioning (``hyperspark scale`` down): a task whose executor is being decommissioned finishes its
  running trial, gets ``stop`` instead of a new trial and ends, so the executor drains without losing work.

Resources: with a task resource profile (``resources``, ``job/resources.py``) every trial-task job runs
under it, so a task holds its cores and GPUs for its whole life and runs its trials on them; the monitor
counts usable slots from the same profile.

Cancellation: :meth:`close` with trials still running (the search was interrupted, or a stop rule fired
with nothing left to wait for) cancels the Spark job group, which kills the Python workers running them;
after a normal end every task is idle and is told to stop.
"""
from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait

from hyperspark.job.executors.base import ShippingReport
from hyperspark.job.executors.per_trial import PerTrialExecutor
from hyperspark.job.executors.trial import TrialContext, evaluate, executor_identity, preload, raise_import_problems
from hyperspark.job.listener import SafeListener, connect
from hyperspark.job.resources import TrialProfile, TrialResources, executor_of, slots_for, task_cpus
from hyperspark.job.search.scheduler import Job
from hyperspark.job.protocol import one_line

log = logging.getLogger(__name__)

LEASE_CONF = "spark.hyperspark.leaseSeconds"
PORT_CONF = "spark.hyperspark.pullPort"
PREFETCH_CONF = "spark.hyperspark.prefetch"
DEFAULT_LEASE_S = 60.0
#: how long close() waits for idle tasks to end before it cancels what is left
STOP_GRACE_S = 30.0
#: a trial task's connect + handshake to the driver (the driver handshakes every connection on its own thread)
CONNECT_TIMEOUT_S = 60.0


# --------------------------------------------------------------------------- executor side
def _pull_task(address, authkey: bytes, ctx: TrialContext, bc, job_no: int, beat_s: float, _it):
    """The body of one long-lived task: hello (or an import problem), then trials until ``stop``."""
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
                row = evaluate(ctx, params, budget, X, y, folds, job_key)
            finally:
                quiet.set()
                beater.join()
            send(("result", lease, row))
            done += 1
    except (EOFError, OSError):
        pass  # the driver closed this connection (lease taken back, search over): end quietly
    finally:
        conn.close()
    return [done]


def _drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, OSError):
        pass


def _gateway_gone(e: BaseException) -> bool:
    """True when a py4j call failed because the JVM is unreachable (not a transient scheduler error)."""
    return isinstance(e, (ConnectionError, OSError)) or type(e).__name__ in ("Py4JNetworkError",)


def _beat(send, quiet: threading.Event, every: float) -> None:
    while not quiet.wait(every):
        try:
            send(("beat",))
        except OSError:
            return


# --------------------------------------------------------------------------- driver side
@dataclass
class _Task:
    job_no: int
    part: int
    state: str = "launched"  # launched -> connected -> done | lost (Spark may retry a lost one)
    executor_id: str = ""
    host: str = ""


class PullExecutor(PerTrialExecutor):
    """Broadcast once; one long-lived task per slot pulls trials from this driver's queue (see module)."""

    transport = "pull"

    def __init__(self, spark, ctx: TrialContext, X, y, folds, slots: int, in_flight: int,
                 parallelism: int | None = None, profile: TrialProfile | None = None):
        super().__init__(spark, ctx, X, y, folds, slots, in_flight, profile)
        conf = self.sc.getConf()
        self.lease_s = float(conf.get(LEASE_CONF, str(DEFAULT_LEASE_S)))
        self.want = max(1, parallelism or slots)  # concurrent trials the user asked for (<= slots)
        bind = conf.get("spark.driver.bindAddress", None) or conf.get("spark.driver.host", "127.0.0.1")
        host = conf.get("spark.driver.host", bind)
        self._authkey = secrets.token_bytes(32)
        # a port probe, HTTP bytes, a wrong key or a silent client ends that connection only (listener.py)
        self._listener = SafeListener((bind, int(conf.get(PORT_CONF, "0"))), self._authkey, self._serve,
                                      backlog=128, name="pull")
        self.address = (host, self._listener.address[1])
        self.group = f"hyperspark-pull-{secrets.token_hex(4)}"
        self._cv = threading.Condition()
        self._queue: deque[tuple[Job, Future]] = deque()
        self._tasks: dict[tuple[int, int], _Task] = {}
        self._leased: dict[int, tuple[Job, Future]] = {}
        self._lease_no = 0
        self._idle = 0  # connection threads waiting in _take for a trial
        self._hungry: set[socket.socket] = set()  # wake sockets of busy tasks with room in their pipeline
        self.prefetch = int(conf.get(PREFETCH_CONF, "1"))  # trials sent ahead to a busy task
        self._job_no = 0
        self._closed = False
        self._failure: BaseException | None = None
        self._problem: str | None = None
        self._decommissioning: set[str] = set()
        self._ended_jobs: set[int] = set()
        self._threads: list[threading.Thread] = []
        self.requeued = 0
        self.tasks_launched = 0

    # -- lifecycle -------------------------------------------------------
    def _spawn(self, fn, name: str, *args) -> threading.Thread:
        t = threading.Thread(target=fn, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)
        return t

    def warm(self) -> list:
        """Launch one task per slot and wait until each has imported the model library and loaded the
        broadcast (timed as ``warmup``). An import problem on any executor raises JobInputError naming the
        module and the executor, before any trial runs."""
        self._launch(self.want)
        self._spawn(self._monitor, "pull-monitor")
        deadline = time.monotonic() + 600
        with self._cv:
            while True:
                if self._problem is not None:
                    raise_import_problems(self.ctx, [self._problem])
                if self._failure is not None:
                    raise self._failure
                ready = [t for t in self._tasks.values() if t.state == "connected"]
                if len(ready) >= min(self.want, self.slots):
                    return [(t.executor_id, t.host, 0, None) for t in ready]
                if time.monotonic() > deadline:
                    raise RuntimeError("trial tasks did not start within 600 s: does the cluster have free cores?")
                self._cv.wait(0.5)

    def _launch(self, n: int) -> None:
        """One more Spark job of ``n`` long-lived tasks (a driver thread waits for it)."""
        with self._cv:
            if self._closed or self._failure is not None or n < 1:
                return
            self._job_no += 1
            job_no = self._job_no
            for p in range(n):
                self._tasks[(job_no, p)] = _Task(job_no, p)
            self.tasks_launched += n
        self._spawn(self._run_job, f"pull-job-{job_no}", job_no, n)

    def _run_job(self, job_no: int, n: int) -> None:
        ctx, bc, address, key, beat = self.ctx, self.bc, self.address, self._authkey, max(0.5, self.lease_s / 6)
        try:
            self.sc.setJobGroup(self.group, "hyperspark trial tasks (long-lived, one per slot)", True)
            self.tasks(n).mapPartitions(lambda it: _pull_task(address, key, ctx, bc, job_no, beat, it)).collect()
        except BaseException as e:  # noqa: BLE001 - cancelled at close, or every retry failed
            with self._cv:
                if not self._closed and self._failure is None:
                    self._failure = RuntimeError(f"trial tasks failed: {one_line(e)}")
                    log.warning("%s", self._failure)
        finally:
            with self._cv:
                self._ended_jobs.add(job_no)
                for (j, _p), t in self._tasks.items():
                    if j == job_no and t.state != "connected":
                        t.state = "done"  # a finished job retries nothing
                self._check_dead()
                self._cv.notify_all()

    def _any_alive(self) -> bool:
        return any(t.state in ("launched", "connected") for t in self._tasks.values())

    def _check_dead(self) -> None:
        """Under the lock: when the tasks failed for good and none is left, fail every waiting trial, so
        the loop raises instead of waiting forever (e.g. the driver's JVM died under us)."""
        if self._failure is not None and not self._any_alive():
            self._fail_queued(self._failure)
            for n, (_job, fut) in list(self._leased.items()):
                self._leased.pop(n, None)
                if not fut.done():
                    fut.set_exception(self._failure)

    def _fail_queued(self, exc: BaseException) -> None:
        while self._queue:
            _job, fut = self._queue.popleft()
            if not fut.done():
                fut.set_exception(exc)

    def _monitor(self) -> None:
        """Every second: which executors are being decommissioned, and one task per usable slot."""
        errors = 0
        while True:
            with self._cv:
                if self._closed:
                    return
            try:
                usable, decom = self._usable_slots()
                with self._cv:
                    self._decommissioning = decom
                    active = sum(t.state in ("launched", "connected") for t in self._tasks.values())
                    missing = min(self.want, usable) - active if self._queue else 0
                    self._cv.notify_all()
                if missing > 0:
                    self._launch(missing)
                errors = 0
            except Exception as e:  # noqa: BLE001 - the monitor must never take the search down ...
                log.debug("pull monitor: %s", e)
                errors += 1
                if errors >= 5 and _gateway_gone(e):  # ... unless the driver's JVM is gone for good
                    with self._cv:
                        self._failure = self._failure or RuntimeError(f"lost the Spark driver JVM: {e}")
                        for t in self._tasks.values():
                            t.state = "done" if t.state != "connected" else t.state
                        self._ended_jobs.update(range(1, self._job_no + 1))
                        self._check_dead()
                        self._cv.notify_all()
            time.sleep(1.0)

    def _usable_slots(self) -> tuple[int, set[str]]:
        """Slots of executors not being decommissioned, from the driver's scheduler (local[N]: its cores)."""
        sc = self.sc
        if sc.master.startswith("local"):
            return self.slots, set()
        jsc = sc._jsc.sc()
        sched = jsc.taskScheduler()
        execs = jsc.statusStore().executorList(True)
        request = self.profile.request if self.profile else TrialResources(task_cpus(sc))
        usable, decom = 0, set()
        for i in range(execs.size()):
            e = execs.apply(i)
            eid = e.id()
            if eid == "driver":
                continue
            try:
                if sched.getExecutorDecommissionState(eid).isDefined():
                    decom.add(eid)
                    continue
            except Exception:  # noqa: BLE001 - an internal API; without it nothing is draining
                pass
            gpus = len(executor_of(e).gpus) if request.gpus else 0  # (a py4j call or two: only for GPUs)
            usable += slots_for(int(e.totalCores()), gpus, request)
        return usable, decom

    # -- connections -----------------------------------------------------
    def _serve(self, conn: Connection) -> None:
        """One task's connection (authenticated, on its own thread): its hello, then trials out and rows
        back until it is told to stop."""
        wake_r, wake_w = socket.socketpair()  # submit() wakes this thread when its pipeline has room
        task: _Task | None = None
        leases: dict[int, tuple[Job, Future]] = {}  # sent on this connection, no row yet (in send order)
        try:
            task = self._hello(conn)
            if task is not None:
                self._pump(conn, task, leases, wake_r, wake_w)
        except (EOFError, OSError, TimeoutError) as e:
            self._take_back(task, leases, e)
        finally:
            with self._cv:
                self._hungry.discard(wake_w)
            for c in (conn, wake_r, wake_w):
                c.close()

    def _hello(self, conn: Connection) -> _Task | None:
        """The task's first message: it is ready (its _Task, now connected), or it could not import the
        user's code (recorded for warm(); None)."""
        if not conn.poll(self.lease_s):
            return None
        msg = conn.recv()
        with self._cv:
            if msg[0] == "problem":
                _, job_no, part, eid, host, problem = msg
                self._problem = self._problem or (eid, host, -1, problem)
                self._mark(job_no, part, "done")
                self._cv.notify_all()
                return None
            _, job_no, part, _attempt, eid, host, _n = msg
            task = self._tasks.setdefault((job_no, part), _Task(job_no, part))
            task.state, task.executor_id, task.host = "connected", eid, host
            self._cv.notify_all()
        return task

    def _pump(self, conn: Connection, task: _Task, leases: dict, wake_r: socket.socket,
              wake_w: socket.socket) -> None:
        """Keep the task's pipeline full and complete each row's Future; returns once the task is stopped."""
        while True:
            if not leases:
                lease = self._take(task)  # blocks until there is work (None: stop)
                if lease is None:
                    conn.send(("stop",))
                    with self._cv:
                        task.state = "done"
                        self._cv.notify_all()
                    return
                self._send(conn, leases, lease)
            if len(leases) < 1 + self.prefetch:
                # pipelining: the task's next trial waits in its socket, so it starts the moment
                # the current one ends, without a round trip through this driver
                spare = self._take_spare(task, wake_w)
                if spare is not None:
                    self._send(conn, leases, spare)
            ready = mp_wait([conn, wake_r], self.lease_s)
            if wake_r in ready:  # new work was queued: try the pipeline again
                _drain(wake_r)
            if conn not in ready:
                if ready:
                    continue
                raise TimeoutError(f"no heartbeat for {self.lease_s:g} s")
            msg = conn.recv()
            if msg[0] != "result" or msg[1] not in leases:
                continue  # a heartbeat
            self._complete(leases, msg[1], msg[2])

    def _complete(self, leases: dict, n: int, row: dict) -> None:
        _job, fut = leases.pop(n)
        with self._cv:
            self._leased.pop(n, None)
            self.slots_seen.add(f"{row.get('host')}/{row.get('executor_id')}")
            self._cv.notify_all()
        if not fut.done():
            fut.set_result(row)

    def _take_back(self, task: _Task | None, leases: dict, e: BaseException) -> None:
        """A dropped or silent connection: its trials go back to the FRONT of the queue, in their order."""
        with self._cv:
            if task is not None and task.state == "connected":
                # Spark retries it if its executor was lost, unless its job has ended
                task.state = "done" if task.job_no in self._ended_jobs else "lost"
            for n, (job, fut) in reversed(list(leases.items())):
                self._leased.pop(n, None)
                if not fut.done() and not self._closed:
                    self._queue.appendleft((job, fut))
                    self.requeued += 1
                    log.warning("trial %s (rung %s) taken back from %s: %s; queued again",
                                job.config.trial_id, job.rung, task.executor_id if task else "?", e)
                elif not fut.done():
                    fut.set_exception(RuntimeError("search closed"))
            self._check_dead()
            self._cv.notify_all()

    @staticmethod
    def _send(conn: Connection, leases: dict, lease: tuple[int, Job, Future]) -> None:
        n, job, fut = lease
        leases[n] = (job, fut)
        conn.send(("trial", n, job.config.params, job.budget, job.key))

    def _mark(self, job_no: int, part: int, state: str) -> None:
        t = self._tasks.setdefault((job_no, part), _Task(job_no, part))
        t.state = state

    def _take(self, task: _Task) -> tuple[int, Job, Future] | None:
        """Block until there is a trial for this task; None = stop (closed, or its executor drains)."""
        with self._cv:
            self._idle += 1
            try:
                while True:
                    if self._closed or self._failure is not None or task.executor_id in self._decommissioning:
                        return None
                    lease = self._pop()
                    if lease is not None:
                        return lease
                    self._cv.wait(1.0)  # woken by submit/close; the timeout re-checks decommissioning
            finally:
                self._idle -= 1

    def _take_spare(self, task: _Task, wake_w: socket.socket) -> tuple[int, Job, Future] | None:
        """A second trial for a busy task, only when no idle task is waiting for one (never starve a
        free slot to fill a busy one's pipeline) and its executor is not draining. None: nothing now,
        and the next submit() wakes this connection's thread through ``wake_w``."""
        with self._cv:
            if self._closed or self._failure is not None or task.executor_id in self._decommissioning:
                return None
            if len(self._queue) <= self._idle:
                self._hungry.add(wake_w)
                return None
            self._hungry.discard(wake_w)
            return self._pop()

    def _pop(self) -> tuple[int, Job, Future] | None:
        """Under the lock: the next live queued trial, leased."""
        while self._queue:
            job, fut = self._queue.popleft()
            if fut.running() or fut.set_running_or_notify_cancel():
                self._lease_no += 1
                self._leased[self._lease_no] = (job, fut)
                return self._lease_no, job, fut
        return None

    # -- the Executor interface ----------------------------------------------
    def submit(self, job: Job) -> Future:
        fut: Future = Future()
        with self._cv:
            if self._failure is not None and not self._any_alive():
                fut.set_exception(self._failure)
                return fut
            self.jobs += 1
            self._queue.append((job, fut))
            self._cv.notify_all()
            if self._hungry and len(self._queue) > self._idle:  # a busy task has room in its pipeline
                w = self._hungry.pop()
                try:
                    w.send(b"!")
                except OSError:
                    pass
        return fut

    def close(self) -> None:
        """Stop the tasks: idle ones are told to stop; running trials (an interrupted search) are
        cancelled with the Spark job group, which kills their Python workers."""
        with self._cv:
            running = bool(self._leased)
            self._closed = True
            self._fail_queued(RuntimeError("search closed"))
            for _job, fut in list(self._leased.values()):
                if not fut.done():
                    fut.set_exception(RuntimeError("search closed"))
            self._cv.notify_all()
            if not running:  # a normal end: give connected tasks a moment to say goodbye
                end = time.monotonic() + STOP_GRACE_S
                while any(t.state == "connected" for t in self._tasks.values()) and time.monotonic() < end:
                    self._cv.wait(0.2)
            # tasks that never connected (waiting for a slot) or whose connection dropped (a retry may
            # be waiting) keep their job open: those jobs are cancelled; the others end by themselves,
            # so a normal end kills no task (no "Lost task ... TaskKilled" in the log)
            waiting = any(t.state in ("launched", "lost") for t in self._tasks.values())
        self._listener.close()
        jobs = [t for t in self._threads if t.name.startswith("pull-job-")]
        if not running and not waiting:
            for t in jobs:
                t.join(10)
        if any(t.is_alive() for t in jobs):
            try:
                self.sc.cancelJobGroup(self.group)  # waiting tasks, or trials of an interrupted search
            except Exception as e:  # noqa: BLE001 - the JVM may be gone already (that is why we are closing)
                log.warning("could not cancel the trial tasks: %s", e)
        for t in jobs:
            t.join(30)
        super().close()

    def report(self) -> ShippingReport:
        rep = super().report()
        rep.measured = {**rep.measured, "trial_tasks": "pull", "tasks_launched": self.tasks_launched,
                        "trials_requeued": self.requeued}
        return rep

