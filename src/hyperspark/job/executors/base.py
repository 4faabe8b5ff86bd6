"""The executor contract: how a trial gets from the driver to a slot and its row back.

An executor runs ONE job, a (configuration, budget), and returns the executor's half of a result row; the
searcher, the scheduler (ASHA) and the bounded in-flight loop (``search/loop.py``) decide what runs, and
none of them knows which executor runs it. Every executor declares the same four things:

* ``warm()``: get ready before the search clock starts (start workers, import the model library or the
  user's code, load the data once per worker); an import problem raises ``JobInputError`` naming the
  module and the executor. Timed as the run's ``warmup`` phase.
* ``submit(job) -> Future[dict]``: queue one job; the future completes once with the row's executor half.
* ``close()``: stop; a normal end lets running trials finish, an interrupted search cancels them.
* ``report() -> ShippingReport``: what crossed the network and how (the summary's ``shipping``).

``transport`` names the executor in reports and in the registry the strategies choose from
(``strategies/base.py``):

=============  =====================================================================  ==============
transport      how trials run                                                         module
=============  =====================================================================  ==============
``pull``       one long-lived task per slot pulls trials from a driver queue          ``pull.py``
``per_trial``  one Spark job per trial; the data broadcast once                      ``per_trial.py``
``replicate``  crossJoin + groupBy(trial).applyInPandas: the data copied per trial    ``replicate.py``
``joblib``     no Spark: local worker processes (the bench's one-machine baseline)    ``local.py``
``mllib``      k MLlib fits per job, each spread over the cluster                     ``mllib.py``
``connect``    Spark Connect: a mapInPandas job per trial; data as Parquet per worker ``connect.py``
=============  =====================================================================  ==============
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from hyperspark.job.search.scheduler import Job


@dataclass
class ShippingReport:
    """What an executor shipped: one copy's size, how many copies crossed the network, to where."""

    strategy: str  # broadcast | replicate | mllib | joblib (how the DATA travels)
    transport: str  # pull | per_trial | replicate | mllib | joblib (how TRIALS travel)
    payload_bytes: int | None = None  # one copy of the training data + folds, pickled
    copies: int | None = None  # how many times it crossed the network (executors, or trials)
    bytes_shipped: int | None = None
    executors: list[str] = field(default_factory=list)
    measured: dict = field(default_factory=dict)  # Spark's own counters where available (shuffle bytes)
    note: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Executor(ABC):
    """Runs one (params, budget) somewhere and returns its result row (see the module docstring)."""

    transport: ClassVar[str]

    def warm(self) -> None:  # noqa: B027 - optional hook: nothing to prepare by default
        """Get every slot ready before the search clock starts."""

    @abstractmethod
    def submit(self, job: Job) -> Future:
        """Queue one job; the future's result is the executor's half of the row (a dict)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop: running trials of a normal end finish; an interrupted search's are cancelled."""

    @abstractmethod
    def report(self) -> ShippingReport:
        """What crossed the network and how (the summary's ``shipping``)."""


class PoolExecutor(Executor):
    """A driver thread per in-flight job; each thread blocks on its own Spark job (or fits)."""

    def __init__(self, in_flight: int, name: str):
        self._pool = ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix=name)
        self.slots_seen: set[str] = set()
        self.jobs = 0

    def submit(self, job: Job) -> Future:
        self.jobs += 1
        fut = self._pool.submit(self._run, job)
        fut.add_done_callback(self._seen)
        return fut

    def _seen(self, fut: Future) -> None:
        if not fut.cancelled() and fut.exception() is None:
            r = fut.result()
            self.slots_seen.add(f"{r.get('host')}/{r.get('executor_id')}")

    @abstractmethod
    def _run(self, job: Job) -> dict:
        """Run one job in this driver thread; the executor's half of the row."""

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
