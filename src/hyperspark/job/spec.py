"""The tuning spec: a YAML/JSON file validated by pydantic before any Spark work starts.

Every mistake becomes ONE line naming the key (``SpecError``). Relative paths in the spec resolve
against the spec file's own folder (as docker compose does), so a spec and its data travel together.

Example::

    name: rf-grid
    dataset: {uri: data/breast_cancer.csv, label: target}
    model: sklearn.random_forest
    search: {type: grid}
    space: {max_depth: [3, 6, 9], n_estimators: [50, 100]}
    metric: roc_auc

``model:`` is a registry key or any scikit-learn-compatible estimator by import path (``module:Class`` or a
factory ``module:make_pipeline``). Instead of ``model:``, ``objective: module:function`` tunes a training
function ``objective(params, data, budget, report=None) -> score | {"score": ..., ...}`` (``direction``
says which way is better; ``cv_folds`` does not apply: the function does its own validation); a function
that names a ``trial`` parameter also gets its devices and identity (``executors/trial.py``: TrialInfo).

``resources: {cpus: 4, gpus: 1}`` sizes each trial (a Spark task resource profile, ``job/resources.py``).

Several objectives (``job/pareto.py``): ``objectives: [{metric: roc_auc, direction: maximize}, {metric:
predict_ms}]`` instead of ``metric:`` (a model's task metrics and the measured costs ``fit_seconds``,
``predict_ms``, ``model_bytes``; an objective function's returned keys); ``constraints: ["model_bytes <=
5e6"]``; ``select: {metric: predict_ms, within: {roc_auc: 0.005}}`` picks the refit from the front (the
best ``metric`` among the front's configurations within 0.5% of the front's best roc_auc; default: the
first objective). ``search.warm_start`` (run ids or trials.jsonl paths) and ``search.enqueue`` (configurations
to evaluate first) seed a search.
"""
from __future__ import annotations

import importlib.util

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hyperspark.errors import SpecError
from hyperspark.job.metrics import METRICS
from hyperspark.job import families
from hyperspark.job import usercode as U
from hyperspark.job.models import MLLIB, UnknownModel, get_model, resource_params, valid_params
from hyperspark.job.pareto import COSTS, check_measured, parse_constraint
from hyperspark.job.search.searcher import SEARCHERS
from hyperspark.space import Space, parse_space
from hyperspark.job.spec_io import (URI_SCHEMES, _is_path, apply_overrides, check_uri,  # noqa: F401 - re-exported
                                     read_spec_data, resolve_uri)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Dataset(_Strict):
    uri: str = Field(min_length=1)
    label: str | None = Field(default=None, min_length=1)  # required unless load: none
    features: list[str] | None = None  # default: every other numeric column
    format: Literal["auto", "csv", "parquet"] = "auto"
    nan_policy: Literal["fail", "drop"] = "fail"
    # table: read CSV/Parquet (X, y); none: an objective gets the URI itself and reads its own data
    load: Literal["table", "none"] = "table"

    @model_validator(mode="after")
    def _label(self):
        if self.load == "table" and self.label is None:
            raise ValueError("dataset.label: required key is missing")
        if self.features is not None:
            if not self.features:
                raise ValueError("dataset.features: empty list; leave it out to use every numeric column but the label")
            if self.label in self.features:
                raise ValueError(f"dataset.features: the label {self.label!r} is also listed as a feature")
            twice = sorted({f for f in self.features if self.features.count(f) > 1})
            if twice:
                raise ValueError(f"dataset.features: {twice[0]!r} is listed more than once")
        return self

    @property
    def resolved_format(self) -> str:
        if self.format != "auto":
            return self.format
        return "parquet" if self.uri.rstrip("/").endswith((".parquet", ".pq")) else "csv"


#: a seed is what NumPy and scikit-learn accept: 0 .. 2**32 - 1
SEED_MAX = 2**32 - 1
SEARCH_TYPES = tuple(SEARCHERS)  # derived from the searcher registry, never listed by hand
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(v) -> float:
    """``90``, ``90s``, ``30m``, ``2h`` -> seconds."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        secs = float(v)
    else:
        m = _DURATION.match(str(v))
        if not m:
            raise ValueError(f"expected a duration like 90s, 30m or 2h, got {v!r}")
        secs = float(m.group(1)) * _UNIT_S[m.group(2)]
    if secs <= 0:
        raise ValueError(f"must be positive, got {v!r}")
    return secs


class Search(_Strict):
    type: str = "grid"  # one of SEARCH_TYPES (the searcher registry)
    trials: int | None = Field(default=None, ge=1)  # random/tpe: how many configurations
    seed: int = Field(default=42, ge=0, le=SEED_MAX)
    timeout: float | None = None  # seconds (the spec may say 90s, 30m, 2h): stop dispatching after this
    target: float | None = None  # stop once the best final CV score reaches this
    # async (default): a slot gets new work the moment it frees. batch: ask one job per slot, wait for
    # the whole batch, then tell (the pattern of Optuna's Spark example), kept for comparison in benchmarks
    dispatch: Literal["async", "batch"] = "async"
    # earlier trials told to the searcher first (run ids under this spec's output, or trials.jsonl paths/URIs)
    warm_start: list[str] = Field(default_factory=list)
    enqueue: list[dict[str, Any]] = Field(default_factory=list)  # configurations evaluated first, in order

    @field_validator("type")
    @classmethod
    def _type(cls, v):
        if v not in SEARCHERS:
            raise ValueError(f"unknown search type {v!r}; valid: {', '.join(SEARCHERS)}")
        if v == "gp" and importlib.util.find_spec("torch") is None:  # Optuna's GPSampler is built on PyTorch
            raise ValueError("gp (Optuna's GP sampler) needs PyTorch on the driver: pip install torch")
        return v

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, v):
        return None if v is None else parse_duration(v)

    @model_validator(mode="after")
    def _trials(self):
        if SEARCHERS[self.type].needs_trials and self.trials is None:
            raise ValueError(f"search.trials is required for a {self.type} search")
        return self


class EarlyStopping(_Strict):
    """ASHA: asynchronous successive halving over a budget parameter of the model (``resource``)."""

    type: Literal["asha"] = "asha"
    resource: str = Field(min_length=1)
    min: int = Field(ge=1)
    max: int = Field(ge=1)
    reduction: int = Field(default=3, ge=2)

    @model_validator(mode="after")
    def _range(self):
        if self.min >= self.max:
            raise ValueError(f"early_stopping.min ({self.min}) must be below early_stopping.max ({self.max})")
        return self


class ObjectiveSpec(_Strict):
    """One objective: a metric of the task, a measured cost, or a number an objective function returns."""

    metric: str = Field(min_length=1)
    direction: Literal["maximize", "minimize"] | None = None  # default: the metric's own (costs minimize)


class Select(_Strict):
    """Which configuration of the Pareto front the refit takes: the best ``metric`` among those within
    ``within[name]`` (a fraction: 0.005 = 0.5%, relative) of the front's best ``name``."""

    metric: str = Field(min_length=1)
    within: dict[str, float] = Field(default_factory=dict)

    @field_validator("within")
    @classmethod
    def _within(cls, v):
        for k, x in v.items():
            if isinstance(x, bool) or x < 0:
                raise ValueError(f"select.within.{k}: a fraction >= 0 (0.005 = 0.5%), got {x!r}")
        return v


class MlflowTracking(_Strict):
    uri: str = Field(min_length=1)
    experiment: str = Field(default="hyperspark", min_length=1)


class Tracking(_Strict):
    mlflow: MlflowTracking | None = None


class Resources(_Strict):
    """Per trial, through Spark's task resource profiles (``job/resources.py``): ``cpus`` cores, which are
    also the model's threads (default: ``threads_per_trial``, i.e. the session's ``spark.task.cpus``), and
    ``gpus`` GPUs (0.5 = two trials share one; amounts above 1 are whole numbers, as Spark requires)."""

    cpus: int | None = Field(default=None, ge=1, le=256)
    gpus: float = Field(default=0.0, ge=0)

    @field_validator("cpus", "gpus", mode="before")
    @classmethod
    def _number(cls, v, info):
        if v is None and info.field_name == "cpus":
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            kind = "a whole number of cores" if info.field_name == "cpus" else "a number of GPUs (e.g. 1 or 0.5)"
            raise ValueError(f"expected {kind}, got {v!r}")
        if info.field_name == "cpus" and isinstance(v, float) and not v.is_integer():
            raise ValueError(f"expected a whole number of cores, got {v!r}")
        return v

    @field_validator("gpus")
    @classmethod
    def _gpus(cls, v):
        if v > 1 and not float(v).is_integer():
            raise ValueError(f"above 1, GPUs are whole numbers (got {v:g}); a GPU is shared only by a "
                             "fraction of at most 1, e.g. 0.5")
        return v


Dim = Union[list, dict, int, float, str, bool]  # the spellings hyperspark.space.parse_dim reads


class Spec(_Strict):
    name: str = Field(default="tuning", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    dataset: Dataset
    task: Literal["classification", "regression"] | None = None  # inferred from the label when absent
    model: str | None = None  # registry key, or an estimator by import path (module:Class / module:factory)
    objective: str | None = None  # instead of model: a training function by import path (module:function)
    direction: Literal["maximize", "minimize"] | None = None  # objectives: which way is better (maximize)
    search: Search = Search()
    space: dict[str, Dim]
    metric: str | None = None  # default: roc_auc (binary), f1 (multiclass), rmse (regression)
    cv_folds: int = Field(default=3, ge=2, le=100)
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    output: str = "runs"
    parallelism: int | Literal["auto"] = "auto"  # concurrent trials; auto = every executor slot
    threads_per_trial: int = Field(default=1, ge=1, le=64)  # spark.task.cpus and the model's n_jobs
    # per trial, through a task resource profile (job/resources.py); None: threads_per_trial cores, no GPUs
    resources: Resources | None = None
    data_shipping: Literal["broadcast", "replicate"] = "broadcast"
    # pull (default): one long-lived task per slot pulls trials from the driver (pull.py);
    # per_trial: one Spark job per trial (the earlier executor, kept for comparison and as a fallback)
    trial_tasks: Literal["pull", "per_trial"] = "pull"
    seed: int = Field(default=42, ge=0, le=SEED_MAX)
    max_trial_failures: int | None = Field(default=None, ge=0)  # stop early past this many failed trials
    max_failed_fraction: float | None = Field(default=None, gt=0.0, le=1.0)  # stop past this failed fraction
    # bounded trials (pull.py): a trial running longer is recorded ``timeout`` (its Python worker killed); a
    # trial whose task is lost more than max_requeues times is recorded ``lost``; the search goes on
    trial_timeout: float | None = None
    max_requeues: int = Field(default=2, ge=0, le=100)
    early_stopping: EarlyStopping | None = None
    tracking: Tracking | None = None
    objectives: list[ObjectiveSpec] | None = None  # several objectives (instead of metric)
    constraints: list[str] | None = None  # "name op number" each (job/pareto.py)
    select: Select | None = None  # which front configuration the refit takes

    @field_validator("cv_folds", mode="before")
    @classmethod
    def _folds(cls, v):
        if isinstance(v, int) and not isinstance(v, bool) and v < 2:
            raise ValueError(f"must be at least 2 (got {v})")
        return v

    @field_validator("trial_timeout", mode="before")
    @classmethod
    def _trial_timeout(cls, v):
        return None if v is None else parse_duration(v)

    @field_validator("parallelism")
    @classmethod
    def _par(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError("must be >= 1 or 'auto'")
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v):
        if v is None:
            return v
        try:
            get_model(v)
        except UnknownModel as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("objective")
    @classmethod
    def _objective(cls, v):
        if v is None:
            return v
        if not U.is_user_code(v):
            raise ValueError(f"{v!r} is not an import path; write module:function (e.g. mypkg.train:objective)")
        try:
            U.objective_function(v)
        except U.UserCodeError as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("space")
    @classmethod
    def _space(cls, v):
        try:
            parse_space(v)
        except SpecError as e:
            raise ValueError(str(e)) from None
        return v

    @model_validator(mode="before")
    @classmethod
    def _lift_model_choice(cls, data):
        return families.lift(data)  # model: {choice: {family: {...}}} -> space.model (job/families.py)

    @model_validator(mode="after")
    def _cross(self):
        self._check_resources()
        self._check_bounded()
        self._check_objectives()
        if self.model is None and self.objective is None:
            raise ValueError("model: required key is missing (or give objective: module:function)")
        if self.model is not None and self.objective is not None:
            raise ValueError("objective: give model or objective, not both")
        if self.objective is not None:
            return self._cross_objective()
        if self.direction is not None:
            raise ValueError("direction: applies to objectives; a model's metric decides (rmse and mae minimize)")
        if self.dataset.load == "none":
            raise ValueError("dataset.load: none applies to objectives; a model trains on a table")
        m = get_model(self.model)
        if self.task is not None and self.task not in m.tasks():
            raise ValueError(f"model: {self.model} supports {', '.join(m.tasks())}, not {self.task}")
        tasks = [self.task] if self.task else m.tasks()
        es = self.early_stopping
        if self.model_choice:  # a choice of families: each one's params and budget (job/families.py)
            families.check(self.search_space, self.task, es.resource if es is not None else None)
        known = set().union(*(valid_params(self.model, t) for t in tasks))
        for name in [] if self.model_choice else [*self.space, *sorted(self.search_space.all_names() - set(self.space))]:
            if name not in known:
                raise ValueError(
                    f"space.{name}: unknown parameter for {self.model}; valid: {', '.join(sorted(known))}"
                )
        allowed = set().union(*(METRICS[t] for t in tasks))
        if self.metric is not None:
            if self.metric not in allowed:
                raise ValueError(f"metric: unknown metric {self.metric!r}; valid: {', '.join(sorted(allowed))}")
        check_measured(self.objective_names, self.constraints or [], allowed, m.library == MLLIB)
        if es is not None and not self.model_choice:
            valid = sorted(set().union(*(resource_params(self.model, t) for t in tasks)))
            if es.resource not in valid:
                raise ValueError(
                    f"early_stopping.resource: {self.model} has no budget parameter {es.resource!r}; "
                    f"valid: {', '.join(valid) if valid else 'none (this model cannot be stopped early)'}"
                )
        self._check_search_space()
        if m.library == MLLIB and self.data_shipping == "replicate":
            raise ValueError("data_shipping: replicate applies to single-machine libraries, not mllib models")
        return self

    def _check_bounded(self) -> None:
        """``trial_timeout`` is kept by the pull executor's driver (it kills the trial's Python worker)."""
        if self.trial_timeout is None:
            return
        mllib = self.model is not None and self.objective is None and get_model(self.model).library == MLLIB
        if self.trial_tasks != "pull" or self.data_shipping == "replicate" or mllib:
            raise ValueError("trial_timeout: needs trial_tasks: pull (the default) with data_shipping: broadcast "
                             "and a single-machine model or an objective")

    def _check_resources(self) -> None:
        """``resources.cpus`` IS the trial's threads: a different ``threads_per_trial`` is a contradiction."""
        res = self.resources
        if res is None:
            return
        if res.cpus is not None and "threads_per_trial" in self.model_fields_set and res.cpus != self.threads_per_trial:
            raise ValueError(f"resources.cpus: {res.cpus} differs from threads_per_trial: {self.threads_per_trial}; "
                             "resources.cpus is the trial's cores and its model threads: give one of them")
        if self.data_shipping == "replicate":
            raise ValueError("resources: data_shipping: replicate runs trials as DataFrame tasks, which take no "
                             "task resource profile; use data_shipping: broadcast")
        if self.model is None or self.objective is not None:
            return
        m = get_model(self.model)
        if m.library == MLLIB:
            raise ValueError(f"resources: an MLlib fit ({self.model}) spreads over the whole cluster, not one "
                             "trial per task; remove resources")
        if res.gpus > 0 and m.gpu is None:
            raise ValueError(f"resources.gpus: model {self.model} does not use GPUs; drop resources.gpus")

    def _cross_objective(self):
        if "cv_folds" in self.model_fields_set:
            raise ValueError("cv_folds: does not apply to an objective (it does its own validation); remove it")
        if self.data_shipping == "replicate":
            raise ValueError("data_shipping: replicate applies to models; an objective's data is broadcast")
        self._check_search_space()
        return self

    def _check_search_space(self) -> None:
        """What the search type asks of the space, and the budget parameter kept out of it (models and
        objectives alike)."""
        try:
            SEARCHERS[self.search.type].check_space(self.search_space)
        except SpecError as e:
            raise ValueError(str(e)) from None
        es = self.early_stopping
        if es is not None and es.resource in self.search_space.all_names():
            raise ValueError(
                f"early_stopping.resource: {es.resource} is also in space; the scheduler sets it per rung, "
                "remove it from space"
            )

    def _check_objectives(self) -> None:
        """objectives vs metric, duplicates, constraints' grammar, select, the searcher, enqueue."""
        obj = self.objectives
        if obj is not None:
            if self.metric is not None:
                raise ValueError("objectives: give metric (one objective) or objectives, not both")
            if not obj:
                raise ValueError("objectives: give at least one {metric: ..., direction: ...}")
            seen = set()
            for i, o in enumerate(obj):
                if o.metric in seen:
                    raise ValueError(f"objectives[{i}]: duplicate objective {o.metric!r}")
                seen.add(o.metric)
            if len(obj) > 1 and not SEARCHERS[self.search.type].multi_objective:
                able = ", ".join(k for k, c in SEARCHERS.items() if c.multi_objective)
                raise ValueError(f"search.type: {self.search.type} takes one objective; "
                                 f"several objectives: {able}")
        for i, text in enumerate(self.constraints or []):
            try:
                parse_constraint(text)
            except ValueError as e:
                raise ValueError(f"constraints[{i}]: {e}") from None
        if self.select is not None:
            names = self.objective_names
            if obj is None:
                raise ValueError("select: applies to several objectives; give objectives: [...]")
            for k in [self.select.metric, *self.select.within]:
                if k not in names:
                    raise ValueError(f"select: {k!r} is not an objective; objectives: {', '.join(names)}")
        self._check_enqueue()

    def _check_enqueue(self) -> None:
        space = self.search_space
        for i, p in enumerate(self.search.enqueue):
            if not space.contains({**space.fixed_params(), **p}):
                raise ValueError(f"search.enqueue[{i}]: {json.dumps(p, sort_keys=True, default=str)} is not a "
                                 "configuration of the space (each parameter of the chosen branches, in range)")

    @property
    def objective_names(self) -> list[str]:
        return [o.metric for o in self.objectives or []]

    @property
    def measured_names(self) -> list[str]:
        """Objectives and constraint quantities, in order, no repeats (what a trial must record)."""
        cons = [parse_constraint(c).name for c in self.constraints or []]
        return list(dict.fromkeys([*self.objective_names, *cons]))

    @property
    def primary_metric(self) -> str | None:
        """The metric a model's trial scores (its CV mean): ``metric``, else the first objective that is not
        a cost (None: the task's default)."""
        if self.metric is not None:
            return self.metric
        return next((n for n in self.objective_names if n not in COSTS), None)

    # -- derived ------------------------------------------------------------
    @property
    def is_objective(self) -> bool:
        return self.objective is not None

    @property
    def model_choice(self) -> bool:
        """``model: {choice: {...}}``: the family is a parameter of each configuration (job/families.py)."""
        return self.objective is None and families.families(self.search_space) is not None

    @property
    def trial_cpus(self) -> int:
        """Cores of one trial and its model's threads: ``resources.cpus``, else ``threads_per_trial``."""
        res = self.resources
        return res.cpus if res is not None and res.cpus is not None else self.threads_per_trial

    @property
    def trial_gpus(self) -> float:
        return self.resources.gpus if self.resources is not None else 0.0

    @property
    def target(self) -> str:
        """What is tuned: the model key, or the objective's import path / object key."""
        return self.objective if self.objective is not None else self.model

    @property
    def strategy(self) -> str:
        return "objective" if self.is_objective else self.model_def.strategy

    @property
    def greater_is_better(self) -> bool | None:
        """Objectives: from direction; models: None (the metric decides)."""
        return (self.direction or "maximize") == "maximize" if self.is_objective else None

    @property
    def search_space(self) -> Space:
        """``space`` as the search-space model (distribution objects); ``space`` stays the spec's dict."""
        return Space.from_spec(self.space)

    @property
    def model_def(self):
        return get_model(self.model)

    def fingerprint(self) -> str:
        """Hash of what determines the trials and their scores (not output/parallelism)."""
        keep = self.model_dump(mode="json", exclude={"output", "parallelism", "name", "max_trial_failures",
                                                     "max_failed_fraction", "tracking", "trial_tasks",
                                                     "trial_timeout", "max_requeues"})
        search = keep["search"]
        for k in ("timeout", "target", "dispatch"):  # when to stop/dispatch does not change a trial's score
            search.pop(k, None)
        # keys added later are left out at their defaults, so older runs still resume
        for k in ("objective", "direction", "resources", "objectives", "constraints", "select"):
            if keep.get(k) is None:
                keep.pop(k, None)
        for k in ("warm_start", "enqueue"):
            if not search.get(k):
                search.pop(k, None)
        if keep["dataset"].get("load") == "table":
            keep["dataset"].pop("load")
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
def _format_error(err: ValidationError) -> str:
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
    elif e["type"] == "missing":
        msg = "required key is missing"
    if msg.startswith(("space", "metric:", "model:", "model.", "data_shipping:", "search.", "early_stopping.", "objective:",
                       "direction:", "dataset.", "cv_folds:", "resources", "objectives",
                       "constraints", "select")):
        return msg
    return f"{loc}: {msg}" if loc else msg


def parse_spec(data: Any, base_dir: Path | None = None) -> Spec:
    if not isinstance(data, dict):
        raise SpecError("spec: the top level must be a mapping of keys")
    try:
        spec = Spec.model_validate(data)
    except ValidationError as e:
        raise SpecError(f"invalid spec: {_format_error(e)}") from None
    # plain paths always become file:// URIs: left bare, Spark would resolve them against fs.defaultFS
    base = base_dir if base_dir is not None else Path.cwd()
    check_uri("dataset.uri", spec.dataset.uri, ("memory",) if spec.dataset.uri == "memory://dataframe" else ())
    check_uri("output", spec.output)
    for w in spec.search.warm_start:
        check_uri("search.warm_start", w)
    spec.dataset.uri = resolve_uri(spec.dataset.uri, base)
    spec.output = resolve_uri(spec.output, base)
    # a warm start is a run id (under output) or a trials.jsonl path/URI (resolved as the data's)
    spec.search.warm_start = [w if not _is_path(w) else resolve_uri(w, base) for w in spec.search.warm_start]
    return spec


def load_spec(path: str | Path, overrides: list[str] | None = None) -> Spec:
    path = Path(path)
    data = read_spec_data(path)
    if overrides:
        if not isinstance(data, dict):
            raise SpecError("spec: the top level must be a mapping of keys")
        data = apply_overrides(data, overrides)
    return parse_spec(data, base_dir=path.resolve().parent)
