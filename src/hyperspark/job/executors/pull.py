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

Bounded trials (``trial_timeout``, ``max_requeues``; docs/reliability.md): the running trial of a connection is
the first it holds, started when it was sent to an idle task or when the row before it landed. Past
``trial_timeout`` the driver completes its Future with a ``timeout`` row and drops the connection (its
prefetched trials go back uncounted); the task's watchdog process (``pull_task.py``) kills the Python worker.
A connection lost while a trial ran counts a loss for that trial; past ``max_requeues`` losses its row is
``lost`` instead of another try. Each task is its own one-task Spark job, so a worker that dies fails only
its own job (a local master does not retry tasks): the monitor starts another.

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
from hyperspark.job.executors.pull_task import pull_task
from hyperspark.job.executors.trial import TrialContext, raise_import_problems
from hyperspark.job.listener import SafeListener
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


# --------------------------------------------------------------------------- driver side
@dataclass
class _Task:
    job_no: int
    part: int
    state: str = "launched"  # launched -> connected -> done | lost (Spark may retry a lost one)
    executor_id: str = ""
    host: str = ""
    connected_once: bool = False  # a job whose task never connected failed for a reason every task shares


class _Leases(dict):
    """A connection's trials sent and not answered, in send order: the first is the one RUNNING (a task runs
    them in order), since ``since`` (driver clock; a prefetched one starts when the previous row lands)."""

    since: float = 0.0
    since_wall: float = 0.0

    def restart(self) -> None:
        self.since, self.since_wall = time.monotonic(), time.time()

    def head(self) -> tuple[int, tuple] | None:
        return next(iter(self.items()), None)


class _TimedOut(Exception):
    """The running trial passed trial_timeout: its row is recorded; the connection is dropped."""


class PullExecutor(PerTrialExecutor):
    """Broadcast once; one long-lived task per slot pulls trials from this driver's queue (see module)."""

    transport = "pull"

    def __init__(self, spark, ctx: TrialContext, X, y, folds, slots: int, in_flight: int,
                 parallelism: int | None = None, profile: TrialProfile | None = None,
                 trial_timeout: float | None = None, max_requeues: int = 2):
        super().__init__(spark, ctx, X, y, folds, slots, in_flight, profile)
        self.trial_timeout, self.max_requeues = trial_timeout, max_requeues
        self._losses: dict[tuple[str, int], int] = {}  # (trial, rung) -> times its running task was lost
        self.timed_out = 0
        self.lost = 0
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
        """``n`` more long-lived tasks, each its own one-task Spark job (a driver thread waits for each), so
        a task whose Python worker dies (killed past trial_timeout, or by the trial) fails only its own job."""
        for _ in range(n):
            with self._cv:
                if self._closed or self._failure is not None:
                    return
                self._job_no += 1
                job_no = self._job_no
                self._tasks[(job_no, 0)] = _Task(job_no, 0)
                self.tasks_launched += 1
            self._spawn(self._run_job, f"pull-job-{job_no}", job_no, 1)

    def _run_job(self, job_no: int, n: int) -> None:
        ctx, bc, address, key, beat = self.ctx, self.bc, self.address, self._authkey, max(0.5, self.lease_s / 6)
        limit = self.trial_timeout
        try:
            self.sc.setJobGroup(self.group, "hyperspark trial tasks (long-lived, one per slot)", True)
            self.tasks(n).mapPartitions(lambda it: pull_task(address, key, ctx, bc, job_no, beat, limit, it)).collect()
        except BaseException as e:  # noqa: BLE001 - cancelled at close, or every retry failed
            with self._cv:
                worked = any(t.connected_once for (j, _p), t in self._tasks.items() if j == job_no)
                if worked and not self._closed:  # a task lost mid-search: its trials were taken back
                    log.warning("trial task %s ended: %s; the monitor starts another", job_no, one_line(e))
                elif not self._closed and self._failure is None:
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
        leases = _Leases()  # sent on this connection, no row yet (in send order)
        try:
            task = self._hello(conn)
            if task is not None:
                self._pump(conn, task, leases, wake_r, wake_w)
        except (EOFError, OSError, TimeoutError, _TimedOut) as e:
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
            task.state, task.executor_id, task.host, task.connected_once = "connected", eid, host, True
            self._cv.notify_all()
        return task

    def _pump(self, conn: Connection, task: _Task, leases: _Leases, wake_r: socket.socket,
              wake_w: socket.socket) -> None:
        """Keep the task's pipeline full and complete each row's Future; returns once the task is stopped."""
        heard = time.monotonic()  # the last message from the task (a row or a heartbeat)
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
            ready = mp_wait([conn, wake_r], self._wait_s(leases, heard))
            if wake_r in ready:  # new work was queued: try the pipeline again
                _drain(wake_r)
            self._check_time(task, leases)  # raises _TimedOut once the running trial is past trial_timeout
            if conn not in ready:
                if ready or time.monotonic() - heard < self.lease_s:
                    continue
                raise TimeoutError(f"no heartbeat for {self.lease_s:g} s")
            msg = conn.recv()
            heard = time.monotonic()
            if msg[0] != "result" or msg[1] not in leases:
                continue  # a heartbeat
            self._complete(leases, msg[1], msg[2])

    def _wait_s(self, leases: _Leases, heard: float) -> float:
        """How long to wait for a message: the lease, or less when the running trial's time limit comes first."""
        wait = heard + self.lease_s - time.monotonic()
        if self.trial_timeout is not None and leases:
            wait = min(wait, leases.since + self.trial_timeout - time.monotonic())
        return max(0.01, wait)

    def _check_time(self, task: _Task, leases: _Leases) -> None:
        """The running trial past trial_timeout: its row reads ``timeout`` (recorded once: its Future), and
        the connection is dropped (its prefetched trials go back to the queue; the task's watchdog kills the
        Python worker, whatever it is doing)."""
        if self.trial_timeout is None or not leases:
            return
        elapsed = time.monotonic() - leases.since
        if elapsed < self.trial_timeout:
            return
        n, (job, fut) = leases.head()
        leases.pop(n)
        with self._cv:
            self._leased.pop(n, None)
            self.timed_out += 1
        log.warning("trial %s (rung %s) ran past trial_timeout (%g s) on %s: recorded as timeout, its Python "
                    "worker killed", job.config.trial_id, job.rung, self.trial_timeout, task.executor_id)
        if not fut.done():
            fut.set_result(self._row(task, leases, "timeout", f"ran past trial_timeout ({self.trial_timeout:g} s); "
                                                               "its Python worker was killed"))
        raise _TimedOut("trial_timeout")

    @staticmethod
    def _row(task: _Task | None, leases: _Leases, status: str, error: str) -> dict:
        """The executor's half of a row the driver writes itself (timeout, lost)."""
        eid, host, now = (task.executor_id, task.host, time.time()) if task else ("", "", time.time())
        started = leases.since_wall or now
        return {"status": status, "error": error, "executor_id": eid or None, "host": host or None,
                "slot": f"{host}/{eid}" if task else None, "started_at": started, "ended_at": now,
                "fit_seconds": round(now - started, 4), "fold_scores": [], "mean": None, "std": None}

    def _complete(self, leases: _Leases, n: int, row: dict) -> None:
        _job, fut = leases.pop(n)
        leases.restart()  # the next one (prefetched) started when this row was sent
        with self._cv:
            self._leased.pop(n, None)
            self.slots_seen.add(f"{row.get('host')}/{row.get('executor_id')}")
            self._cv.notify_all()
        if not fut.done():
            fut.set_result(row)

    def _take_back(self, task: _Task | None, leases: _Leases, e: BaseException) -> None:
        """A dropped or silent connection: its trials go back to the FRONT of the queue, in their order. The
        one that was RUNNING counts a loss; past ``max_requeues`` losses its row reads ``lost`` instead."""
        head = leases.head()
        if head is not None and not isinstance(e, _TimedOut) and self._ends_running(task, leases, head, e):
            leases.pop(head[0])
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
    def _send(conn: Connection, leases: _Leases, lease: tuple[int, Job, Future]) -> None:
        n, job, fut = lease
        if not leases:
            leases.restart()  # nothing ahead of it: it starts now
        leases[n] = (job, fut)
        conn.send(("trial", n, job.config.params, job.budget, job.key))

    def _ends_running(self, task: _Task | None, leases: _Leases, head: tuple, e: BaseException) -> bool:
        """The running trial of a lost connection: True when its row is written now (``timeout``: it had
        already run past trial_timeout; ``lost``: its task was lost more than max_requeues times), False when
        it goes back to the queue."""
        n, (job, fut) = head
        if fut.done() or self._closed:
            return False
        if self.trial_timeout is not None and time.monotonic() - leases.since >= self.trial_timeout:
            status, why = "timeout", f"ran past trial_timeout ({self.trial_timeout:g} s); its Python worker was killed"
        else:
            with self._cv:
                losses = self._losses[job.key] = self._losses.get(job.key, 0) + 1
            if losses <= self.max_requeues:
                return False
            status, why = "lost", f"its task was lost {losses} times (max_requeues {self.max_requeues}): {one_line(e)}"
        with self._cv:
            self._leased.pop(n, None)
            if status == "timeout":
                self.timed_out += 1
            else:
                self.lost += 1
        log.warning("trial %s (rung %s): %s", job.config.trial_id, job.rung, why)
        fut.set_result(self._row(task, leases, status, why))
        return True

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
                        "trials_requeued": self.requeued, "trials_timed_out": self.timed_out,
                        "trials_lost": self.lost}
        return rep

