"""``hyperspark.tune``: the spec, built from keyword arguments, run with the caller's SparkSession.

The same validated :class:`~hyperspark.job.spec.Spec` as a YAML file, and the job's own stages
(:func:`hyperspark.job.run.run`); what is particular to the API:

* objects: ``estimator=obj`` / ``objective=fn`` are registered and shipped to executors as cloudpickle bytes
  (a class or function defined in a notebook works); import paths work as in a spec file;
* data: a pandas DataFrame is passed in memory; a Spark DataFrame is collected ONCE when its estimated size
  is at most ``collect_limit_bytes``, else written once as Parquet under the run (``<run>/input.parquet``)
  and read from there (``summary.data.input`` says which); a path/URI is read as in a spec file;
* the session: used as it is (a classic SparkSession, a Spark Connect session, or ``spark="sc://host:port"``
  for one made here). Before any trial, the executors' Python is checked (``job/preflight.py``): what trials
  import must import there; HyperSpark's own package is shipped when only it is missing; anything else is
  one ``JobError`` line naming the module, the executor, its interpreter and the fix. A session made here
  gives its workers this interpreter (``sys.executable``, unless ``PYSPARK_PYTHON`` says otherwise). On Spark
  Connect trials run as Python UDF work (``executors/connect.py``). Nothing static can change on a running
  session, so ``threads_per_trial``
  must equal its ``spark.task.cpus`` (the default); trials of another size (or with GPUs) ask for it with
  ``resources={"cpus": 4, "gpus": 1}`` (a task resource profile: a cluster session with dynamic allocation
  off); runtime SQL confs and this thread's job description are restored afterwards; a session the API had
  to create is stopped again;
* progress: a live bar in notebooks (rich), nothing in scripts (``progress=True/False`` overrides);
* errors: :class:`SpecError` (the spec) or :class:`JobError` (the run), with the CLI's one-line messages.
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperspark.job import usercode as U
from hyperspark.errors import JobError, JobInputError, SpecError
from hyperspark.job.spec import Spec, parse_spec
from hyperspark.job.protocol import RunSummary, new_run_id, one_line, run_id_problem

log = logging.getLogger("hyperspark")

DEFAULT_COLLECT_LIMIT_BYTES = 256 * 1024 * 1024  # a Spark DataFrame up to this estimated size is collected


@dataclass
class Result:
    """What ``tune`` returns: the run's summary, its trials (``trials.jsonl`` as a DataFrame), the refit model."""

    summary: RunSummary
    spec: Spec
    trials: Any  # pandas DataFrame, one row per line of trials.jsonl
    best_model: Any = None  # refit on the train split; None for objectives
    _refit: Any = None  # params -> a model fit on the train split (single-machine models), from the job

    @property
    def pareto(self):
        """Several objectives: the Pareto front as a pandas DataFrame (``trial_id``, ``number``, one column
        per objective, ``params``), from ``summary.pareto`` (feasible trials only); empty otherwise."""
        import pandas as pd

        names = [o["metric"] for o in self.summary.objectives or []]
        return pd.DataFrame([{"trial_id": p.trial_id, "number": p.number, **p.values, "params": p.params}
                             for p in self.summary.pareto or []],
                            columns=["trial_id", "number", *names, "params"])

    def refit(self, trial_id: str):
        """Fit the front's configuration ``trial_id`` on the train split and return the model (a front
        trial only: an infeasible or dominated one never). JobError when it is not on the front or the
        model cannot be refit here (objectives, MLlib)."""
        front = {p.trial_id: p for p in self.summary.pareto or []}
        if trial_id not in front:
            raise JobError(f"trial {trial_id!r} is not on the Pareto front; front: {', '.join(front) or 'none'}")
        if self._refit is None:
            raise JobError("refit: only a single-machine model is refit here (objectives and MLlib models are not)")
        p = front[trial_id]
        es = self.spec.early_stopping
        params = dict(p.params) if es is None or p.budget is None else {**p.params, es.resource: int(p.budget)}
        return self._refit(params)

    @property
    def best_params(self) -> dict:
        return self.summary.best_params

    @property
    def best_score(self) -> float:
        return self.summary.cv_score

    @property
    def test_metrics(self) -> dict:
        return self.summary.test_metrics

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    @property
    def output_uri(self) -> str:
        return self.summary.output_uri

    def spec_yaml(self) -> str:
        """The spec as YAML: ``hyperspark.job.spec.parse_spec(yaml.safe_load(text))`` gives ``self.spec``."""
        import yaml

        return yaml.safe_dump(self.spec.model_dump(mode="json", exclude_unset=True), sort_keys=False)

    def __repr__(self) -> str:
        return (f"Result(run_id={self.run_id!r}, {self.summary.metric}={self.best_score:.6g}, "
                f"best_params={self.best_params}, trials={len(self.trials)})")


# --------------------------------------------------------------------------------------------------
def tune(model: str | None = None, *, estimator=None, objective=None, space: dict, data=None,
         label: str | None = None, search: str | dict = "tpe", trials: int = 40, metric: str | None = None,
         spark=None, output: str | None = None, early_stopping: dict | None = None, direction: str | None = None,
         run_id: str | None = None, progress: bool | None = None,
         collect_limit_bytes: int = DEFAULT_COLLECT_LIMIT_BYTES, py_files: list | tuple = (),
         **spec_keys) -> Result:
    """Tune a model (registry key or ``module:Class``), an ``estimator`` object or an ``objective``.

    ``search``: ``"grid"``, ``"random"``, ``"tpe"`` or the spec's mapping; ``trials`` applies to random/tpe.
    ``data``: a pandas or Spark DataFrame, or a path/URI (CSV/Parquet; with an objective and no ``label``,
    the URI itself is the objective's ``data``). ``output``: where runs go (default: a temp dir).
    ``py_files``: package directories, zips or .py files to ship to executors (``addPyFile``; the artifact
    API on Spark Connect). ``spark``: a SparkSession (classic or Spark Connect), ``"sc://host:port"`` (a
    Connect session made for this call and stopped after it), or None (the active one, else a local one).
    Every other keyword is a spec key (``cv_folds=5``, ``test_fraction=0.25``, ``name="x"``, ``seed=1``,
    ``resources={"cpus": 4, "gpus": 1}``, ``trial_timeout="30s"`` (a longer trial is recorded ``timeout`` and its
    Python worker killed), ``max_requeues=2`` (a trial whose task keeps being lost is recorded ``lost``)...).
    """
    if run_id is not None and run_id_problem(run_id):  # before anything is read or started
        raise SpecError(f"invalid run_id: {run_id_problem(run_id)}")
    made = _remote(spark) if isinstance(spark, str) else None  # spark="sc://host:port": ours, stopped at the end
    spark = made if made is not None else _answering(spark)
    spec, frame_src, active = _checked_spec(model, estimator, objective, space, data, label, search, trials, metric,
                                            early_stopping, direction, output, spark, spec_keys)
    run_id = run_id or new_run_id(spec.name)
    from hyperspark.job.session import build_session

    owned = active is None
    session = active if active is not None else build_session(spec)
    saved = _Saved(session)
    try:
        _prepare_session(session, spec, owned, py_files)
        frame, data_input = _materialize(session, spec, frame_src, run_id, collect_limit_bytes)
        if not saved.connect:
            session.sparkContext.setLocalProperty("spark.job.description", f"hyperspark tune {spec.name} ({run_id})")
        live = _in_notebook() if progress is None else bool(progress)
        return _run_job(session, spec, run_id, frame, data_input, live)
    finally:
        if owned or made is not None:
            session.stop()
        else:
            saved.restore()


def _remote(url: str):
    """``spark="sc://host:port"``: a Spark Connect session made here (one line when it does not answer)."""
    from hyperspark.job.session import connect_session

    try:
        return connect_session(url)
    except JobInputError as e:
        raise JobError(str(e)) from None


def _answering(spark):
    """A Spark Connect session the caller made must answer before anything else asks it (one line)."""
    from hyperspark.job.session import check_connect, is_connect

    if is_connect(spark):
        try:
            check_connect(spark)
        except JobInputError as e:
            raise JobError(str(e)) from None
    return spark


def _prepare_session(session, spec: Spec, owned: bool, py_files) -> None:
    """Before the data moves: what Connect cannot do (one line each), the user's py_files, and on a session
    the user made the pre-search import check (``job/preflight.py``; may ship HyperSpark's own package)."""
    from hyperspark.job import preflight
    from hyperspark.job import session as S

    connect = S.is_connect(session)
    try:
        if connect:
            _connect_refusals(spec)
        if py_files:
            _ship(session, py_files, connect)
        if owned:  # this interpreter, local[*]: nothing to check
            return
        if connect:
            slots = S.connect_cores(session) // max(1, spec.trial_cpus)
        else:
            S.wait_for_executors(session)
            slots = S.total_cores(session) // max(1, spec.trial_cpus)
        preflight.check(session, spec, connect, slots, log.info)
    except JobInputError as e:
        raise JobError(str(e)) from None


def _connect_refusals(spec: Spec) -> None:
    """What a Spark Connect session cannot run, one line each (before anything is read or written)."""
    from urllib.parse import urlparse

    if spec.strategy == "mllib":
        raise JobError(f"model {spec.model}: MLlib models are not supported on Spark Connect here: the MLlib "
                       "strategy caches its folds and runs concurrent fits through the driver's SparkContext, "
                       "which a Connect client does not have; use a classic SparkSession (or hyperspark "
                       "submit), or a single-machine model (sklearn.*, xgboost.*, lightgbm.*)")
    if urlparse(spec.output).scheme not in ("", "file"):
        raise JobError(f"output {spec.output}: on Spark Connect the run's results are written by this client "
                       "process: give a file:// path (or a local directory) the Connect server can read too")
    if spec.trial_timeout is not None:
        raise JobError("trial_timeout needs transport pull: its driver kills a trial's Python worker, which a Spark "
                       "Connect client cannot reach; leave trial_timeout out on Connect")
    if spec.data_shipping == "replicate":
        raise JobError("data_shipping: replicate copies the data per trial through the driver's SparkContext, "
                       "which a Spark Connect client does not have; leave it out (Connect ships the data once per "
                       "worker as Parquet)")


def _checked_spec(model, estimator, objective, space, data, label, search, trials, metric, early_stopping,
                  direction, output, spark, spec_keys):
    """The validated Spec, where the data comes from, and the caller's active session (or None)."""
    try:
        spec_dict, frame_src = _spec_dict(model, estimator, objective, space, data, label, search, trials, metric,
                                          early_stopping, direction, output, spec_keys)
    except SpecError as e:
        raise SpecError(str(e)) from None
    active = _active_session(spark)
    # resources.cpus sizes the trials itself (a task resource profile): the session's size is then no default
    sized = isinstance(spec_dict.get("resources"), dict) and spec_dict["resources"].get("cpus") is not None
    if active is not None and "threads_per_trial" not in spec_dict and not sized:
        spec_dict["threads_per_trial"] = _task_cpus(active)
    try:
        spec = parse_spec(spec_dict)
    except SpecError as e:
        raise SpecError(str(e)) from None
    if active is not None and spec.resources is None and spec.threads_per_trial != _task_cpus(active):
        raise SpecError(f"invalid spec: threads_per_trial: the session runs {_task_cpus(active)} core(s) per task "
                        f"(spark.task.cpus), not {spec.threads_per_trial}; build the session with "
                        f"spark.task.cpus={spec.threads_per_trial}, or leave threads_per_trial out")
    return spec, frame_src, active


def _run_job(session, spec: Spec, run_id: str, frame, data_input: str | None, live: bool) -> Result:
    """The job's own pipeline on ``session``; its errors as the API's two exception types."""
    from hyperspark.job.run import run

    artifacts: dict = {}
    try:
        summary = run(session, spec, run_id, log=log.info, progress_live=live, frame=frame,
                      artifacts=artifacts, progress_lines=False, data_input=data_input)
    except SpecError as e:
        raise SpecError(str(e)) from None
    except JobInputError as e:
        raise JobError(str(e)) from None
    except JobError:
        raise
    except Exception as e:  # noqa: BLE001 - every trial failed, a Spark error...: the CLI's one line
        raise JobError(_first_line(e)) from None
    return Result(summary=summary, spec=spec, trials=_trials_frame(artifacts["store"]),
                  best_model=artifacts.get("estimator"), _refit=artifacts.get("refit"))


# --------------------------------------------------------------------------------------------------
def _search_of(search: str | dict, trials: int, extra: dict) -> dict:
    """The spec's ``search`` from ``tune``'s ``search``/``trials``. ``tune(seed=7)`` makes the whole call
    reproducible under 7, the searcher's draws included (a spec file keeps ``search.seed`` and ``seed``
    apart); without this, seeds 1, 2, 3 sampled the same configurations."""
    if isinstance(search, dict):
        out = dict(search)
    else:
        out = {"type": search}
        if search != "grid":
            out["trials"] = trials
    if "seed" in extra and "seed" not in out:
        out["seed"] = extra["seed"]
    return out


def _spec_dict(model, estimator, objective, space, data, label, search, trials, metric, early_stopping,
               direction, output, extra: dict):
    given = [n for n, v in (("model", model), ("estimator", estimator), ("objective", objective)) if v is not None]
    if len(given) != 1:
        raise SpecError("invalid spec: give exactly one of model=, estimator= or objective= "
                        f"(got {', '.join(given) if given else 'none'})")
    d: dict[str, Any] = {}
    # tune(MyEstimator()) reads naturally too; a dict is a choice of families (hyperspark.choice({...}))
    if model is not None and not isinstance(model, (str, dict)):
        estimator, model = model, None
    if model is not None:
        d["model"] = model
    elif estimator is not None:
        if not U.is_estimator(estimator):
            raise SpecError(f"invalid spec: estimator: {U.describe(estimator)} is not a scikit-learn estimator "
                            "(it needs fit, get_params and set_params)")
        d["model"] = U.register(estimator, "estimator")
    elif isinstance(objective, str):
        d["objective"] = objective
    else:
        if not callable(objective) or isinstance(objective, type):
            raise SpecError(f"invalid spec: objective: {U.describe(objective)} is not a function "
                            "(an objective is objective(params, data, budget) -> score)")
        d["objective"] = U.register(objective, "objective")
    d["space"] = space
    d["search"] = _search_of(search, trials, extra)
    if metric is not None:
        d["metric"] = metric
    if early_stopping is not None:
        d["early_stopping"] = early_stopping
    if direction is not None:
        d["direction"] = direction
    d["output"] = output if output is not None else tempfile.mkdtemp(prefix="hyperspark-runs-")
    frame_src = None
    if "dataset" in extra:
        d["dataset"] = extra.pop("dataset")
    elif data is None:
        raise SpecError("invalid spec: data: required (a pandas DataFrame, a Spark DataFrame, or a path/URI)")
    elif isinstance(data, (str, Path)):
        uri = str(data)
        if objective is not None and label is None:
            d["dataset"] = {"uri": uri, "load": "none"}
        else:
            d["dataset"] = {"uri": uri, "label": label}
    elif _is_pandas(data) or _is_spark_df(data):
        frame_src = data
        d["dataset"] = {"uri": "memory://dataframe", "label": label}
    else:
        raise SpecError(f"invalid spec: data: expected a pandas DataFrame, a Spark DataFrame or a path/URI, "
                        f"got {type(data).__name__}")
    d.update(extra)
    return d, frame_src


def _is_pandas(x) -> bool:
    return type(x).__module__.startswith("pandas.") and type(x).__name__ == "DataFrame"


def _is_spark_df(x) -> bool:
    return type(x).__module__.startswith("pyspark.") and type(x).__name__ == "DataFrame"


def _active_session(spark):
    if spark is not None:
        return spark
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()  # active in THIS thread
    if session is None and SparkContext._active_spark_context is not None:
        # a session this process made elsewhere (another thread): the caller's, used and never stopped
        session = SparkSession.builder.getOrCreate()
    return session


def _task_cpus(spark) -> int:
    from hyperspark.job.session import task_cpus_of

    return task_cpus_of(spark)


def _ship(spark, py_files, connect: bool = False) -> None:
    """``addPyFile`` each (a package directory is zipped); on Connect the artifact API does the same."""
    from hyperspark.job import package

    for f in py_files:
        p = Path(f)
        package.add_pyfile(spark, str(p) if p.suffix == ".py" else package.prepare(str(p)), connect)


def estimate_bytes(df) -> int | None:
    """Catalyst's size estimate of a Spark DataFrame (None when the plan cannot tell, e.g. Spark Connect)."""
    try:
        return int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
    except Exception:  # noqa: BLE001 - an internal API
        return None


def _materialize(spark, spec: Spec, src, run_id: str, limit: int):
    """-> (pandas frame or None, how the data came in); a large Spark DataFrame goes to Parquet, once."""
    if src is None:
        return None, "file"
    if _is_pandas(src):
        return src, "memory"
    size = estimate_bytes(src)
    from hyperspark.job.session import is_connect

    if size is None and is_connect(spark):  # no plan statistics through Connect: rows x columns x 8 bytes
        size = src.count() * max(1, len(src.columns)) * 8
    if size is not None and size <= limit:
        return src.toPandas(), "collected"
    uri = f"{spec.output.rstrip('/')}/{run_id}/input.parquet"
    src.write.mode("overwrite").parquet(uri)
    spec.dataset.uri, spec.dataset.format = uri, "parquet"
    log.info("data: %s bytes (estimated) > collect_limit_bytes %s: written once to %s", size, limit, uri)
    return None, "parquet"


def _trials_frame(store):
    import pandas as pd

    raw = store.fs.read_bytes(store.rel("trials.jsonl")) or b""
    return pd.DataFrame([json.loads(line) for line in raw.decode().splitlines() if line.strip()])


def _first_line(e: BaseException) -> str:
    return one_line(e)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ != "TerminalInteractiveShell"


class _Saved:
    """The session's runtime confs and this thread's job description, put back as they were."""

    def __init__(self, spark):
        from hyperspark.job.session import is_connect

        self.spark = spark
        self.connect = is_connect(spark)
        self.confs = dict(spark.conf.getAll)
        self.description = None if self.connect else spark.sparkContext.getLocalProperty("spark.job.description")

    def restore(self) -> None:
        conf = self.spark.conf
        now = dict(conf.getAll)
        for k, v in now.items():
            try:
                if k not in self.confs:
                    conf.unset(k)
                elif self.confs[k] != v:
                    conf.set(k, self.confs[k])
            except Exception:  # noqa: BLE001 - a static conf cannot have changed; nothing to put back
                pass
        if not self.connect:
            self.spark.sparkContext.setLocalProperty("spark.job.description", self.description)

