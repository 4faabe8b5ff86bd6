"""Optional MLflow tracking of a search, on the driver, never in the trials' way.

* one **parent run** per search (tag ``hyperspark.run_id``), the spec as params, the summary as metrics;
  a resume finds it again by that tag and continues it;
* one **child run** per ``(trial, rung)`` row of ``trials.jsonl``: params, fold scores, mean/std, fit
  seconds, executor, budget/rung (tag ``hyperspark.row`` = ``<trial_id>:<rung>``, so a resume skips the
  rows that are already there);
* several objectives / constraints: every child run carries ``hyperspark.feasible`` (and the constraints it
  broke); when the search ends, the child runs of the Pareto front (``summary.pareto``, each trial's final
  rung) are tagged ``hyperspark.pareto = true`` with ``hyperspark.objective.<name>`` = its value, and the
  parent carries ``hyperspark.pareto_size`` and ``hyperspark.objectives``;
* the best model, with its flavour (``mlflow.sklearn`` for scikit-learn, xgboost and lightgbm estimators,
  ``mlflow.spark`` for a ``pyspark.ml`` model) and a signature inferred from a sample of the features.

``log_trials`` only queues; a daemon thread creates the child runs and sends each one's data in one
``MlflowClient.log_batch``. Any MLflow failure (server down, unreachable, refused) prints ONE warning line
on stderr and turns the tracker into a no-op: the search goes on, and ``finish`` says what failed.

Use (on the driver)::

    tracker = MlflowTracker(uri, experiment, run_id, spec.model_dump(mode="json"), {"hyperspark.data_hash": h})
    tracker.start()
    ...  tracker.log_trials([row])       # as rows land (TrialResult, or the dict the job writes)
    info = tracker.finish(summary, model=best_estimator, X_sample=X_test[:5])   # -> summary.tracking["mlflow"]

Imports mlflow lazily: the module loads (and does nothing useful) without it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sys
import threading
import time
import warnings
from typing import Any, Iterable, Mapping

from hyperspark.job.protocol import RunSummary, TrialResult
from hyperspark.job.protocol import one_line

RUN_TAG = "hyperspark.run_id"
ROLE_TAG = "hyperspark.role"  # parent | trial
ROW_TAG = "hyperspark.row"  # "<trial_id>:<rung>" on each child run
FEASIBLE_TAG = "hyperspark.feasible"  # "true" | "false" on each child run
PARETO_TAG = "hyperspark.pareto"  # "true" on the child runs of the Pareto front (set at the end)
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own nesting tag (the UI draws children under the parent)
MAX_PARAM = 500  # characters kept of a param value (MLflow refuses longer values on some stores)
PROBE_TIMEOUT_S = 5.0


def _one_line(exc: BaseException) -> str:
    first = one_line(exc, 300 - len(type(exc).__name__) - 2)
    return f"{type(exc).__name__}: {first}" if str(exc).strip() else type(exc).__name__


def _ms(t: float | None) -> int | None:
    return int(t * 1000) if t is not None else None


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = (v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str))[:MAX_PARAM]
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


class MlflowTracker:
    """See the module docstring. Every public method is safe to call in any state and never raises."""

    def __init__(self, uri: str, experiment: str, run_id: str, spec_dict: dict, tags: dict,
                 flush_timeout_s: float = 300.0, senders: int = 1) -> None:
        self.uri = uri
        self.experiment = experiment
        self.run_id = run_id
        self.spec_dict = dict(spec_dict or {})
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.flush_timeout_s = flush_timeout_s
        self.senders = max(1, senders)
        self.ok = True
        self.error: str | None = None
        self.parent_run_id: str | None = None
        self.experiment_id: str | None = None
        self.resumed = False
        self._client = None
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._logged: set[str] = set()  # row keys with a child run (found at start or logged since)
        self._children: dict[str, str] = {}  # row key -> its child run's MLflow id
        self._lock = threading.Lock()
        self._warned = False

    # ------------------------------------------------------------------ failure: one line, then no-op
    def _fail(self, what: str, exc: BaseException) -> None:
        with self._lock:
            if not self.ok:
                return
            self.ok = False
            self.error = f"{what}: {_one_line(exc)}"
        if not self._warned:
            self._warned = True
            print(f"hyperspark: warning: MLflow tracking off ({self.uri}): {self.error}", file=sys.stderr,
                  flush=True)

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Create the parent run, or continue the one tagged with this run id (resume). Never raises."""
        if not self.ok:
            return
        # The driver's stdout carries the job's protocol lines: no "View run at" pair per child (which also
        # costs a get_run per run). A server that dies mid-run fails in about a minute, not after MLflow's
        # default 7 retries of 120 s. setdefault: a user's own settings win.
        for var, value in (("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"),
                           ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")):
            os.environ.setdefault(var, value)
        try:
            self._probe()
            import mlflow  # noqa: F401 - an ImportError here is a tracking failure like any other
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=self.uri)
            exp = client.get_experiment_by_name(self.experiment)
            self.experiment_id = exp.experiment_id if exp is not None else client.create_experiment(self.experiment)
            found = client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{RUN_TAG}` = '{self.run_id}' and tags.`{ROLE_TAG}` = 'parent'",
                max_results=1, order_by=["attributes.start_time ASC"])
            if found:
                self.parent_run_id = found[0].info.run_id
                self.resumed = True
                client.update_run(self.parent_run_id, status="RUNNING")
                self._logged = self._existing_rows(client)
            else:
                run = client.create_run(self.experiment_id, run_name=self.run_id,
                                        tags={**self.tags, RUN_TAG: self.run_id, ROLE_TAG: "parent"})
                self.parent_run_id = run.info.run_id
                self._log_params(client, self.parent_run_id, _flatten(self.spec_dict))
            self._client = client
        except Exception as exc:  # noqa: BLE001 - tracking never stops the search
            self._fail("start", exc)
            return
        self._thread = threading.Thread(target=self._worker, name="hyperspark-mlflow", daemon=True)
        self._thread.start()

    def _probe(self) -> None:
        """An HTTP tracking server that does not answer fails here in seconds, not after MLflow's retries."""
        if not self.uri.startswith(("http://", "https://")):
            return
        import requests

        try:
            requests.get(self.uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S)
        except requests.RequestException as exc:
            raise ConnectionError(f"no MLflow server answers at {self.uri} ({type(exc).__name__})") from None

    def _existing_rows(self, client) -> set[str]:
        keys: set[str] = set()
        token = None
        while True:
            page = client.search_runs([self.experiment_id],
                                      filter_string=f"tags.`{PARENT_TAG}` = '{self.parent_run_id}'",
                                      max_results=1000, page_token=token)
            for r in page:
                if ROW_TAG in r.data.tags:
                    keys.add(r.data.tags[ROW_TAG])
                    self._children[r.data.tags[ROW_TAG]] = r.info.run_id
            token = page.token
            if not token:
                return keys

    @staticmethod
    def _log_params(client, run_id: str, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k[:250], v) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow's limit: 100 params per batch
            client.log_batch(run_id, params=items[i:i + 100])

    # ------------------------------------------------------------------ trials
    def log_trials(self, rows: Iterable[TrialResult | Mapping[str, Any]]) -> None:
        """Queue finished rows for child runs; returns at once (a background thread sends them)."""
        if not self.ok or self._thread is None:
            return
        batch = []
        for r in rows:
            try:
                batch.append(r if isinstance(r, TrialResult) else TrialResult.model_validate(r))
            except Exception:  # noqa: BLE001 - a malformed row is not worth stopping tracking for
                continue
        if batch:
            self._queue.put(batch)

    def _worker(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        # ``senders`` child runs in flight (each is 3 round trips: create, log_batch, terminate). Default 1:
        # with a sqlite-backed server, concurrent writers only wait on its lock (measured: no gain at 4);
        # a server on a real database can take more.
        with ThreadPoolExecutor(max_workers=self.senders, thread_name_prefix="hyperspark-mlflow-send") as pool:
            while True:
                item = self._queue.get()
                if item is None:
                    self._queue.task_done()
                    return
                try:
                    todo = []
                    for row in item:
                        key = f"{row.trial_id}:{row.rung}"
                        if self.ok and key not in self._logged:
                            self._logged.add(key)  # claimed now: the same row queued twice is sent once
                            todo.append((row, key))
                    for fut in [pool.submit(self._send, row, key) for row, key in todo]:
                        fut.result()
                finally:
                    self._queue.task_done()

    def _send(self, row: TrialResult, key: str) -> None:
        if not self.ok:
            return
        try:
            self._log_child(row, key)
        except Exception as exc:  # noqa: BLE001 - one warning, then no-op
            self._logged.discard(key)
            self._fail("logging trials", exc)

    def _log_child(self, row: TrialResult, key: str) -> None:
        from mlflow.entities import Metric, Param

        client = self._client
        now = int(time.time() * 1000)
        tags = {PARENT_TAG: self.parent_run_id, RUN_TAG: self.run_id, ROLE_TAG: "trial", ROW_TAG: key,
                "hyperspark.trial_id": row.trial_id, "hyperspark.rung": str(row.rung),
                "hyperspark.status": row.status, FEASIBLE_TAG: str(row.ok and row.feasible is not False).lower()}
        if row.violations:
            tags["hyperspark.violations"] = json.dumps(row.violations, sort_keys=True)[:5000]
        for name, value in (("hyperspark.executor_id", row.executor_id), ("hyperspark.host", row.host),
                            ("hyperspark.slot", row.slot)):
            if value is not None:
                tags[name] = str(value)
        if row.error:
            tags["hyperspark.error"] = row.error[:5000]
        name = row.trial_id if row.rung == 0 and row.budget is None else f"{row.trial_id}-r{row.rung}"
        run = client.create_run(self.experiment_id, start_time=_ms(row.started_at) or now, tags=tags,
                                run_name=name)
        child = run.info.run_id
        self._children[key] = child
        ts = _ms(row.ended_at) or now
        metrics = []
        for mname, value in (("mean", row.mean), ("std", row.std), ("fit_seconds", row.fit_seconds),
                             ("rung", row.rung), ("budget", row.budget)):
            if _finite(value):
                metrics.append(Metric(mname, float(value), ts, 0))
        metrics += [Metric("fold_score", float(v), ts, i) for i, v in enumerate(row.fold_scores) if _finite(v)]
        metrics += [Metric(f"fold_{i}", float(v), ts, 0) for i, v in enumerate(row.fold_scores) if _finite(v)]
        metrics += [Metric("intermediate", float(v), ts, int(step)) for step, v in row.intermediate if _finite(v)]
        metrics += [Metric(k, float(v), ts, 0) for k, v in row.metrics.items() if _finite(v)]
        params = [Param(str(k)[:250], (v if isinstance(v, str) else json.dumps(v, default=str))[:MAX_PARAM])
                  for k, v in row.params.items()]
        if row.budget is not None and "budget" not in row.params:
            params.append(Param("budget", str(row.budget)))
        # one log_batch per child (MLflow's limits per batch: 1000 metrics, 100 params)
        chunks = max(-(-len(metrics) // 1000), -(-len(params) // 100), 1)
        for c in range(chunks):
            client.log_batch(child, metrics=metrics[c * 1000:(c + 1) * 1000], params=params[c * 100:(c + 1) * 100])
        client.set_terminated(child, status="FINISHED" if row.status == "ok" else "FAILED",
                              end_time=_ms(row.ended_at) or now)

    # ------------------------------------------------------------------ finish
    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued row is logged (or tracking failed); False on timeout."""
        if self._thread is None:
            return True
        deadline = time.monotonic() + (self.flush_timeout_s if timeout_s is None else timeout_s)
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks

    def finish(self, summary: RunSummary, model: Any = None, X_sample: Any = None) -> dict:
        """Flush, put the summary on the parent, log the best model; ``{"ok": ..., ...}`` for summary.json."""
        if not self.ok:
            return {"ok": False, "error": self.error or "tracking was not started"}
        if self._thread is None:
            return {"ok": False, "error": "tracking was not started"}
        if not self.flush():
            self._fail("finish", TimeoutError(f"trials not logged within {self.flush_timeout_s:.0f} s"))
        self._queue.put(None)
        self._thread.join(timeout=5.0)
        if not self.ok:
            return {"ok": False, "error": self.error, "parent_run_id": self.parent_run_id}
        out: dict[str, Any] = {"ok": True, "parent_run_id": self.parent_run_id, "experiment_id": self.experiment_id,
                               "children": len(self._logged), "resumed": self.resumed}
        try:
            self._log_summary(summary)
            if summary.pareto is not None:
                out["pareto_tagged"] = self._tag_front(summary)
        except Exception as exc:  # noqa: BLE001
            self._fail("logging the summary", exc)
            return {"ok": False, "error": self.error, "parent_run_id": self.parent_run_id}
        if model is not None:
            try:
                with _quiet_mlflow():
                    out["model_uri"], out["flavor"] = self._log_model(model, X_sample, summary.data.features)
            except Exception as exc:  # noqa: BLE001 - the summary is there; say the model is not
                self._fail("logging the model", exc)
                out.update(ok=False, error=self.error)
        try:
            self._client.set_terminated(self.parent_run_id, status="FINISHED")
        except Exception as exc:  # noqa: BLE001
            self._fail("closing the parent run", exc)
            out.update(ok=False, error=self.error)
        return out

    def _log_summary(self, s: RunSummary) -> None:
        from mlflow.entities import Metric, RunTag

        ts = int((s.finished_at or time.time()) * 1000)
        values: dict[str, Any] = {f"cv_{s.metric}": s.cv_score, "cv_std": s.best.cv_std,
                                  "trials_ok": s.search.ok, "trials_failed": s.search.failed,
                                  "configurations": s.search.configs or s.search.trials}
        values.update({f"test_{k}": v for k, v in s.test_metrics.items()})
        values.update({f"time_{k}_s": v for k, v in s.timings.items()})
        values.update({"busy_core_seconds": s.cost.busy_core_seconds,
                       "available_core_seconds": s.cost.available_core_seconds,
                       "idle_slot_fraction": s.cost.idle_slot_fraction})
        if s.early_stopping is not None:
            values.update({"pruned": s.early_stopping.pruned, "core_seconds_saved": s.early_stopping.core_seconds_saved})
        metrics = [Metric(k, float(v), ts, 0) for k, v in values.items() if _finite(v)]
        tags = {"hyperspark.best_trial_id": s.best.trial_id,
                "hyperspark.best_params": json.dumps(s.best_params, sort_keys=True, default=str)[:5000],
                "hyperspark.metric": s.metric, "hyperspark.model": s.model, "hyperspark.strategy": s.strategy,
                "hyperspark.output_uri": s.output_uri, "hyperspark.cluster": s.cluster.master}
        if s.data.hash:
            tags["hyperspark.data_hash"] = s.data.hash
        if s.cluster.app_id:
            tags["hyperspark.spark_app_id"] = s.cluster.app_id
        self._client.log_batch(self.parent_run_id, metrics=metrics,
                               tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def _tag_front(self, s: RunSummary) -> int:
        """Tag the Pareto front's child runs (each trial's highest rung, where the front was measured) with
        ``hyperspark.pareto`` and their objectives; the parent with the front's size. Returns how many."""
        from mlflow.entities import RunTag

        top: dict[str, tuple[int, str]] = {}  # trial id -> (its highest rung logged, that child run)
        for key, child in self._children.items():
            tid, _, rung = key.rpartition(":")
            if rung.isdigit() and (tid not in top or int(rung) > top[tid][0]):
                top[tid] = (int(rung), child)
        tagged = 0
        for p in s.pareto or []:
            if p.trial_id not in top:
                continue
            tags = [RunTag(PARETO_TAG, "true")] + [RunTag(f"hyperspark.objective.{k}", repr(float(v)))
                                                  for k, v in p.values.items() if _finite(v)]
            self._client.log_batch(top[p.trial_id][1], tags=tags)
            tagged += 1
        names = [o.get("metric") for o in s.objectives or []]
        self._client.log_batch(self.parent_run_id, tags=[RunTag("hyperspark.pareto_size", str(len(s.pareto or []))),
                                                         RunTag("hyperspark.objectives", ",".join(map(str, names)))])
        return tagged

    def _log_model(self, model: Any, X_sample: Any, features: list[str] | None = None) -> tuple[str, str]:
        import mlflow
        from mlflow.models import infer_signature

        mlflow.set_tracking_uri(self.uri)
        flavor = "spark" if type(model).__module__.startswith("pyspark.ml") else "sklearn"
        with mlflow.start_run(run_id=self.parent_run_id):
            if flavor == "spark":
                import mlflow.spark

                model = _with_assembler(model, features)
                signature = None
                if X_sample is not None:
                    sdf = X_sample
                    if not hasattr(sdf, "toPandas"):  # pandas -> Spark on the driver's session
                        from pyspark.sql import SparkSession

                        sdf = SparkSession.getActiveSession().createDataFrame(X_sample)
                    signature = infer_signature(sdf.toPandas(), model.transform(sdf).select("prediction").toPandas())
                info = mlflow.spark.log_model(model, artifact_path="model", signature=signature)
            else:
                import mlflow.sklearn

                signature = None
                if X_sample is not None:
                    signature = infer_signature(X_sample, model.predict(X_sample))
                info = mlflow.sklearn.log_model(model, name="model", signature=signature,
                                                serialization_format="cloudpickle")
        return info.model_uri, flavor


@contextlib.contextmanager
def _quiet_mlflow():
    """MLflow's advice while saving a model (pickle caution, deprecations) is not the driver's business:
    its log and warnings stay quiet; failures still raise and become the one warning line."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _with_assembler(model: Any, features: list[str] | None) -> Any:
    """An MLlib model reads one vector column: prefix it with the VectorAssembler of the run's feature
    columns, so the logged model takes the raw columns (as pyfunc callers have them)."""
    from pyspark.ml import PipelineModel

    if not features or isinstance(model, PipelineModel) or not model.hasParam("featuresCol"):
        return model
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(inputCols=list(features), outputCol=model.getOrDefault("featuresCol"),
                                handleInvalid="keep")
    return PipelineModel(stages=[assembler, model])


__all__ = ["MlflowTracker", "RUN_TAG", "ROW_TAG", "ROLE_TAG", "FEASIBLE_TAG", "PARETO_TAG"]
