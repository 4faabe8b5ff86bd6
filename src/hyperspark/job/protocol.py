"""The typed contract between the job and everything that reads it (the ops tool, render, bench, report).

The job WRITES these; nobody reads its output as untyped dicts:

* stdout lines: ``HYPERSPARK_PROGRESS {ProgressEvent}`` per finished (trial, rung),
  ``HYPERSPARK_RESULT {ResultLine}`` once at the end of a successful run, and
  ``hyperspark: error: <one line>`` on stderr for bad input (exit 2).
* ``<output>/<run_id>/trials.jsonl``: one :class:`TrialResult` per line, one per (trial, rung).
* ``<output>/<run_id>/summary.json``: one :class:`RunSummary`, written last (its presence = completed).

It is also the one home of the run's rules that both sides apply:

* run ids: :func:`new_run_id` (one format) and :func:`run_id_problem` (one pattern, one length limit);
* the job's command line: :class:`JobArgs` (``tune.py SPEC --run-id ...``), built once for every target,
  the warm driver and the Kubernetes Job;
* direction: :data:`LOWER_IS_BETTER`, :func:`greater_is_better`, :func:`better`;
* ranking: :func:`rank_trials`, :func:`pick_best`, :func:`final_rows` (early stopping's last rung included);
* one-line errors: :func:`one_line`.

Adding a summary field: add it to :class:`RunSummary` (with a default, so older summaries still parse) and
fill it where its value is known (a strategy's ``summary_data`` or ``job/summary.py``). Readers get it
typed; nothing else changes.

This module imports only pydantic and the standard library: executors and the ops tool load it without Spark.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import re
import secrets
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field

PROGRESS_PREFIX = "HYPERSPARK_PROGRESS "
RESULT_PREFIX = "HYPERSPARK_RESULT "
#: set by the kit's submit path (epoch seconds) right before it starts spark-submit: the job then times
#: its own launch (``session.process_timings``, the cold-start breakdown)
LAUNCHED_AT_ENV = "HYPERSPARK_LAUNCHED_AT"
#: conf a launcher sets on a cold driver: the executor count to wait for, strictly (the bench, which
#: must run at N), or the count the cluster gives at once (a hint: reached, the driver goes on; not
#: reached, it falls back to a count that holds 2 s)
EXPECTED_EXECUTORS = "spark.hyperspark.expectedExecutors"
EXECUTORS_HINT = "spark.hyperspark.executorsHint"
ERROR_PREFIX = "hyperspark: error: "
FAILED_PREFIX = "hyperspark: failed: "

#: metrics (and measured costs) where a smaller number wins; every other metric is maximized
LOWER_IS_BETTER = frozenset({"rmse", "mae"})

#: a run id: letters, digits, '.', '_' or '-', starting with a letter or digit, at most RUN_ID_MAX chars
RUN_ID_MAX = 128
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def new_run_id(name: str | None = None) -> str:
    """``<name>-YYYYmmdd-HHMMSS-xxxx`` (UTC; ``xxxx`` random hex), or without the name: sortable by start
    time within a name, unique enough for one user's runs, always valid for :func:`run_id_problem`."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", name or "").strip("-._")
    prefix = prefix[: RUN_ID_MAX - len(stamp) - 1]
    return f"{prefix}-{stamp}" if prefix else stamp


def run_id_problem(run_id: str) -> str | None:
    """None for a valid run id, else the one line that says what is wrong with it."""
    if not _RUN_ID.fullmatch(run_id or ""):
        return f"run id {run_id!r}: use letters, digits, '.', '_' or '-' (starting with a letter or digit)"
    if len(run_id) > RUN_ID_MAX:
        return f"run id {run_id[:20]!r}...: at most {RUN_ID_MAX} characters (it has {len(run_id)})"
    return None


def one_line(message: object, limit: int = 300) -> str:
    """The first non-empty line of ``message`` (an exception: its text, else its type name), at most
    ``limit`` characters: what every user-facing error line shows."""
    text = str(message).strip() if message is not None else ""
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if not first and isinstance(message, BaseException):
        first = type(message).__name__
    return first[:limit]


def greater_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


class _Model(BaseModel):
    # unknown fields are kept (a newer job read by an older tool, or extra user metrics) but never required
    model_config = ConfigDict(extra="allow", protected_namespaces=())


#: ok; error (the model/objective raised); timeout (ran past ``trial_timeout``: its Python worker was killed);
#: lost (its task was lost more than ``max_requeues`` times). Only ok rows are ever ranked or "best".
Status = Literal["ok", "error", "timeout", "lost"]


class TrialResult(_Model):
    """One finished evaluation of one configuration at one budget (one row of ``trials.jsonl``).

    ``trial_id`` names the configuration (a stable hash of model + params); with early stopping a
    configuration has one row per rung it reached, so the row key is ``(trial_id, rung)``.
    """

    trial_id: str
    params: dict[str, Any]
    status: Status
    number: int | None = None  # the searcher's ask order (0, 1, ...): the dispatch order of configurations
    rung: int = 0  # early stopping: 0 = first (smallest) budget; without early stopping always 0
    budget: int | None = None  # value of the resource parameter for this evaluation (None: the model's own)
    # what the scheduler decided when this row landed: complete (final score told to the searcher),
    # promote (ASHA: runs again at the next rung), prune (ASHA: stopped here), failed (model/objective raised)
    decision: Literal["complete", "promote", "prune", "failed"] | None = None
    fold_scores: list[float] = Field(default_factory=list)
    mean: float | None = None  # the CV score (or the objective's score)
    std: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)  # extra numbers an objective returned
    intermediate: list[tuple[int, float]] = Field(default_factory=list)  # objective report(step, score)
    error: str | None = None
    traceback: str | None = None
    executor_id: str | None = None
    host: str | None = None
    pid: int | None = None
    slot: str | None = None  # "host/executor" that ran it (timeline rows)
    started_at: float | None = None  # epoch seconds on the executor
    ended_at: float | None = None
    fit_seconds: float | None = None  # wall seconds of the evaluation (all folds)
    cpu_seconds: float | None = None  # CPU seconds of the evaluating process (work done, whatever the load)
    # a run with ``resources``: the request ({"cpus": c, "gpus": g}) and the GPU addresses the trial held
    # ([] without GPUs); both absent (None) for runs without resources and for older rows
    resources: dict[str, int | float] | None = None
    devices: list[str] | None = None
    # Spark Connect trials (executors/connect.py): how many times this row's Python worker has loaded the
    # run's data from its Parquet copy (1 on its first trial, then the same 1: loaded once per worker)
    data_loads: int | None = None
    run_id: str | None = None
    # a run with constraints: whether every constraint held, and how far each broken one was broken
    # (``"model_bytes <= 5e6": 1200.0``); None without constraints (job/pareto.py)
    feasible: bool | None = None
    violations: dict[str, float] | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.trial_id, self.rung)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.mean is not None

    def to_line(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True)


def parse_trials(text: str) -> list[TrialResult]:
    """``trials.jsonl`` -> rows; blank lines skipped; a malformed line raises ValueError naming its number."""
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(TrialResult.model_validate_json(line))
        except ValueError as e:
            raise ValueError(f"line {i}: {one_line(e)}") from None
    return out


class ProgressEvent(_Model):
    done: int  # finished evaluations, (trial, rung) rows included
    total: int | None = None  # configurations the searcher will try (None: unbounded, e.g. timeout-only)
    configs: int = 0  # distinct configurations started so far
    failed: int = 0
    pruned: int = 0  # configurations stopped early by the scheduler (not promoted)
    metric: str
    best: float | None = None
    best_params: dict[str, Any] | None = None
    eta_s: float | None = None
    elapsed_s: float = 0.0
    trial_id: str | None = None
    status: Status | None = None
    score: float | None = None
    rung: int = 0
    budget: int | None = None
    executor_id: str | None = None
    core_seconds_saved: float | None = None
    # several objectives: the Pareto front's size so far (there is no one best); constraints: final results
    # that broke one (never counted as best)
    front: int | None = None
    infeasible: int = 0


class ResultLine(_Model):
    run_id: str
    output_uri: str
    best_params: dict[str, Any]
    cv_score: float
    test_metrics: dict[str, float] = Field(default_factory=dict)
    metric: str
    timings: dict[str, float] = Field(default_factory=dict)
    report: str | None = None  # path/URI of the run report when one was written


class SearchInfo(_Model):
    type: str  # grid | random | tpe
    trials: int  # configurations asked for (grid: its size)
    ran: int = 0  # evaluations run by THIS invocation (a resume runs only the missing ones)
    resumed: int = 0  # evaluations replayed from trials.jsonl
    ok: int = 0
    failed: int = 0  # every row that is not ok (errors, timeouts and lost ones included)
    timed_out: int = 0  # rows with status timeout (ran past trial_timeout)
    lost: int = 0  # rows with status lost (their task lost more than max_requeues times)
    cv_folds: int | None = None
    seed: int | None = None
    configs: int = 0  # distinct configurations evaluated in total
    settings: dict[str, Any] = Field(default_factory=dict)  # the searcher's own settings (sampler, timeout...)
    stopped: str | None = None  # why dispatch stopped early: timeout | target | max_failed_fraction


class EarlyStoppingInfo(_Model):
    type: str  # asha
    resource: str
    min: int
    max: int
    reduction: int
    rungs: list[int]  # the budgets, rung 0 first
    per_rung: list[int] = Field(default_factory=list)  # evaluations finished per rung
    pruned: int = 0  # configurations that never reached max budget
    busy_core_seconds: float = 0.0
    full_budget_core_seconds_estimate: float | None = None  # the same configurations, all at max budget
    core_seconds_saved: float | None = None


class BestTrial(_Model):
    trial_id: str
    params: dict[str, Any]
    cv_score: float
    cv_std: float | None = None
    fold_scores: list[float] = Field(default_factory=list)
    budget: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)  # extra numbers the objective returned


class ParetoTrial(_Model):
    """One configuration of the Pareto front (``summary.pareto``): every objective's value."""

    trial_id: str
    number: int | None = None
    params: dict[str, Any]
    values: dict[str, float]
    budget: int | None = None


class DataInfo(_Model):
    uri: str
    rows: int | None = None
    dropped_rows: int | None = None
    features: list[str] | None = None
    label: str | None = None
    classes: list[Any] | None = None
    train_rows: int | None = None
    test_rows: int | None = None
    hash: str | None = None
    # how the data reached the job: file (read from uri), memory (a pandas frame), collected (a small Spark
    # DataFrame collected once), parquet (a large one written under the run and read once), uri (objective);
    # on Spark Connect "<that>+connect-parquet": the trials' data written once as Parquet, read once per worker
    input: str | None = None


class ClusterInfo(_Model):
    master: str
    executors: int = 0
    cores: int = 0
    slots: int = 0
    parallelism: int = 0
    task_cpus: int = 1  # cores of one trial (resources.cpus, else threads_per_trial)
    app_id: str | None = None
    # a run with ``resources``: the request per trial, whether it ran under a task resource profile (else
    # the request equals a default task), and the GPU addresses the executors held (None: not counted)
    resources: dict[str, int | float] | None = None
    profile: bool = False
    gpus: int | None = None


class CostInfo(_Model):
    busy_core_seconds: float | None = None
    available_core_seconds: float | None = None
    idle_slot_fraction: float | None = None
    note: str | None = None


class RunSummary(_Model):
    run_id: str
    name: str
    output_uri: str
    model: str  # the registry key / import path / object key; for objectives the objective's
    kind: Literal["model", "objective"] = "model"
    task: str
    strategy: str
    metric: str
    greater_is_better: bool = True
    search: SearchInfo
    early_stopping: EarlyStoppingInfo | None = None
    best: BestTrial
    best_params: dict[str, Any]
    cv_score: float  # the best CV score (objectives: the best score the objective returned)
    test_metrics: dict[str, float] = Field(default_factory=dict)  # empty for objectives (no refit)
    model_saved: bool = True  # model/ was written (False for objectives)
    data: DataInfo
    cluster: ClusterInfo
    cost: CostInfo = Field(default_factory=CostInfo)
    shipping: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    tracking: dict[str, Any] = Field(default_factory=dict)  # e.g. {"mlflow": {"run_id": ..., "ok": true}}
    spec_fingerprint: str | None = None
    finished_at: float | None = None
    # several objectives / constraints (job/pareto.py): [{metric, direction}], the constraint texts, the
    # front (feasible, final rung, not dominated) and what the refit selected it by; warm starts' counts
    objectives: list[dict[str, str]] | None = None
    constraints: list[str] | None = None
    pareto: list[ParetoTrial] | None = None
    select: dict[str, Any] | None = None
    warm_start: dict[str, Any] | None = None

    def result_line(self, report: str | None = None) -> ResultLine:
        return ResultLine(run_id=self.run_id, output_uri=self.output_uri, best_params=self.best_params,
                          cv_score=self.cv_score, test_metrics=self.test_metrics, metric=self.metric,
                          timings=self.timings, report=report)


def better(a: float | None, b: float | None, greater_is_better: bool) -> bool:
    """Is score ``a`` strictly better than ``b`` (None/NaN are worst)?"""
    if a is None or a != a:
        return False
    if b is None or b != b:
        return True
    return a > b if greater_is_better else a < b


# --------------------------------------------------------------------------- ranking (one rule for all)
def _order(r: TrialResult) -> int:
    return r.number if r.number is not None else 1 << 30


def final_rows(rows: Iterable[TrialResult]) -> list[TrialResult]:
    """One row per configuration: the one at the highest rung it reached (its last word)."""
    last: dict[str, TrialResult] = {}
    for r in rows:
        cur = last.get(r.trial_id)
        if cur is None or r.rung >= cur.rung:
            last[r.trial_id] = r
    return list(last.values())


def rank_trials(rows: Iterable[TrialResult], greater_is_better: bool) -> list[TrialResult]:
    """Rows best-first: higher rungs (more budget) before lower ones, then by score in the metric's
    direction, ties to the earlier configuration (search order, as GridSearchCV); failed rows last."""
    def key(r: TrialResult) -> tuple:
        m = r.mean
        if not r.ok or m is None or math.isnan(m):
            return (1, 0, 0.0, _order(r))
        return (0, -r.rung, -m if greater_is_better else m, _order(r))

    return sorted(rows, key=key)


def pick_best(rows: Iterable[TrialResult], greater_is_better: bool, final_rung: int = 0) -> TrialResult | None:
    """The winner: the best mean score among successful, feasible rows at the final budget (``final_rung``:
    the scheduler's last rung, 0 without early stopping); ties go to the earlier configuration."""
    ranked = rank_trials((r for r in rows if r.ok and r.rung == final_rung and r.feasible is not False),
                         greater_is_better)
    return ranked[0] if ranked else None


# --------------------------------------------------------------------------- the warm driver (warm_server.py)
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobArgs(_Strict):
    """The job's command line after ``tune.py`` -- the ONE builder every target, the warm driver and the
    Kubernetes Job use: ``SPEC [--run-id ID] [--resume] [--set K=V]... [--package ZIP]...``.
    ``hyperspark.job.cli.parse_args`` reads it back."""

    spec: str  # the spec file's path as the driver sees it
    run_id: str | None = None
    resume: bool = False
    overrides: list[str] = Field(default_factory=list)  # --set KEY=VALUE
    packages: list[str] = Field(default_factory=list)  # --package ZIP_OR_DIR, as the driver sees them
    force: bool = False  # --force: a run dir made with other data (or spec) starts over

    def argv(self) -> list[str]:
        args = [self.spec]
        if self.run_id is not None:
            args += ["--run-id", self.run_id]
        if self.resume:
            args.append("--resume")
        for item in self.overrides:
            args += ["--set", item]
        for p in self.packages:
            args += ["--package", p]
        if self.force:
            args.append("--force")
        return args


class WarmRunRequest(JobArgs):
    """One run for the warm driver: the job's command line (the spec file's absolute path: the warm driver
    runs on the same machine) and how many executors the cluster has now, so the driver knows what to wait
    for. Sent as JSON, one message per connection."""

    executors: int | None = Field(None, ge=1)  # the cluster's ALIVE workers: wait for that many executors


class WarmMessage(_Strict):
    """Server -> client: every line the job prints (``line``), then its exit code (``exit``), last."""

    kind: Literal["line", "exit"]
    stream: Literal["stdout", "stderr"] | None = None
    text: str | None = None
    code: int | None = None
