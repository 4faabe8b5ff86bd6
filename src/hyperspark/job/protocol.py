"""The typed contract between the job and everything that reads it (the ops tool, render, bench, report).

The job WRITES these; nobody reads its output as untyped dicts:

* stdout lines: ``HYPERSPARK_PROGRESS {ProgressEvent}`` per finished (trial, rung),
  ``HYPERSPARK_RESULT {ResultLine}`` once at the end of a successful run, and
  ``hyperspark: error: <one line>`` on stderr for bad input (exit 2).
* ``<output>/<run_id>/trials.jsonl``: one :class:`TrialResult` per line, one per (trial, rung).
* ``<output>/<run_id>/summary.json``: one :class:`RunSummary`, written last (its presence = completed).

Adding a summary field: add it to :class:`RunSummary` (with a default, so older summaries still parse) and
fill it in ``main.summarize``. Readers get it typed; nothing else changes.

This module imports only pydantic: executors and the ops tool load it without Spark.
"""
from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PROGRESS_PREFIX = "HYPERSPARK_PROGRESS "
RESULT_PREFIX = "HYPERSPARK_RESULT "
ERROR_PREFIX = "hyperspark: error: "
FAILED_PREFIX = "hyperspark: failed: "

LOWER_IS_BETTER = frozenset({"rmse", "mae"})


class _Model(BaseModel):
    # unknown fields are kept (a newer job read by an older tool, or extra user metrics) but never required
    model_config = ConfigDict(extra="allow", protected_namespaces=())


Status = Literal["ok", "error"]


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
    run_id: str | None = None

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
            raise ValueError(f"line {i}: {str(e).splitlines()[0]}") from None
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
    failed: int = 0
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
    # DataFrame collected once), parquet (a large one written under the run and read once), uri (objective)
    input: str | None = None


class ClusterInfo(_Model):
    master: str
    executors: int = 0
    cores: int = 0
    slots: int = 0
    parallelism: int = 0
    task_cpus: int = 1
    app_id: str | None = None


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


# --------------------------------------------------------------------------- the warm driver (server.py)
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WarmRunRequest(_Strict):
    """One run for the warm driver: what ``tune.py``'s command line carries (and how many executors the
    cluster has now, so the driver knows what to wait for). Sent as JSON, one message per connection."""

    spec: str  # the spec file's absolute path (the warm driver runs on the same machine)
    run_id: str | None = None
    resume: bool = False
    overrides: list[str] = Field(default_factory=list)  # --set KEY=VALUE
    packages: list[str] = Field(default_factory=list)  # --package ZIP_OR_DIR
    executors: int | None = Field(None, ge=1)  # the cluster's ALIVE workers: wait for that many executors

    def argv(self) -> list[str]:
        """The same arguments a cold ``spark-submit jobs/tune.py`` gets."""
        args = [self.spec]
        if self.run_id is not None:
            args += ["--run-id", self.run_id]
        if self.resume:
            args.append("--resume")
        for item in self.overrides:
            args += ["--set", item]
        for p in self.packages:
            args += ["--package", p]
        return args


class WarmMessage(_Strict):
    """Server -> client: every line the job prints (``line``), then its exit code (``exit``), last."""

    kind: Literal["line", "exit"]
    stream: Literal["stdout", "stderr"] | None = None
    text: str | None = None
    code: int | None = None
