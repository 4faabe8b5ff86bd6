"""The state one run carries through its stages (load -> split -> search -> refit -> write).

:class:`Run` is created by ``run.run`` and handed to the strategy at every stage, so no stage takes a
dozen loose arguments; :class:`RunOptions` are the caller's knobs (the command line, the Python API, the
bench's one-process baseline).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # types only: run.py builds a Run from these
    from hyperspark.job.results import RunStore
    from hyperspark.job.search.scheduler import Scheduler
    from hyperspark.job.session import Cluster
    from hyperspark.job.spec import Spec
    from hyperspark.job.strategies.base import Strategy


@dataclass
class RunOptions:
    """How a caller wants the run: ``log`` receives one-line notes; ``frame`` is a pandas DataFrame used
    instead of reading ``dataset.uri`` (the Python API); ``artifacts`` receives ``estimator`` (the refit
    model, None for objectives) and ``store``; ``progress_lines`` prints ``HYPERSPARK_PROGRESS`` lines;
    ``data_input`` says how the data reached the job (summary ``data.input``); ``expected_executors``
    waits for that many executors (default: ``spark.hyperspark.expectedExecutors``); ``n_jobs`` is the
    process count of the no-Spark (joblib) executor; ``timings`` carries phases timed before the run
    (the session)."""

    log: Callable[[str], Any] = print
    progress_live: bool | None = None
    progress_lines: bool = True
    timings: dict | None = None
    n_jobs: int = 1
    frame: Any = None
    artifacts: dict | None = None
    data_input: str | None = None
    expected_executors: int | None = None
    force: bool = False  # a run dir made with other data (or another spec) is started over, not refused


@dataclass
class Problem:
    """What the load stage found: the data (driver arrays or a Spark frame), its task and the metric."""

    prep: Any  # data.LocalData (driver arrays) | data.Prepared (MLlib) | None (the objective reads a URI)
    metric: str
    greater_is_better: bool

    @property
    def task(self) -> str | None:
        return getattr(self.prep, "task", None)

    @property
    def data_hash(self) -> str:
        """The loaded data's hash (``sha256:...``; '' when the objective reads its data itself)."""
        return self.prep.data_hash if self.prep is not None else ""


@dataclass
class Splits:
    """The split stage's result: driver arrays and fold indices, or MLlib's cached Spark frames."""

    train_rows: int
    test_rows: int
    X_tr: Any = None
    y_tr: Any = None
    X_te: Any = None
    y_te: Any = None
    folds: list = field(default_factory=list)  # numpy index pairs, or cached Spark (train, validation)
    train: Any = None  # MLlib: Spark frames
    test: Any = None


@dataclass
class Refit:
    """The refit stage's result: held-out metrics and the model (None for objectives: nothing to save)."""

    test_metrics: dict = field(default_factory=dict)
    format: str | None = None  # joblib | mllib | None
    estimator: Any = None


@dataclass
class Run:
    """One run: what it is (spec, strategy, id), where it writes (store), and what each stage added."""

    spark: Any  # a SparkSession, or None (the joblib executor: no Spark)
    spec: Spec
    run_id: str
    strategy: Strategy
    options: RunOptions
    t0: float = field(default_factory=time.monotonic)
    timings: dict = field(default_factory=dict)
    store: RunStore | None = None
    problem: Problem | None = None
    cluster: Cluster | None = None
    splits: Splits | None = None
    scheduler: Scheduler | None = None
    resumed: list = field(default_factory=list)  # rows recorded by an earlier attempt (resume)

    def time(self, phase: str, since: float) -> None:
        """Record ``phase`` as the seconds since ``since`` (time.monotonic())."""
        self.timings[phase] = round(time.monotonic() - since, 3)
