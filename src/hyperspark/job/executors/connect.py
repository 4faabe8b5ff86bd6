"""``transport: connect``: trials on a Spark Connect session, as Python UDF work.

A Connect client (``SparkSession.builder.remote("sc://...")``, Databricks serverless and shared clusters) is not
the driver: it has no SparkContext, no RDDs, no broadcast, and executors usually cannot open a connection
back to it, so neither the pull tasks (``pull.py``) nor the broadcast (``per_trial.py``) can run. Here:

* **data, once per Python worker.** The client writes the trials' data ONCE as Parquet under the run's
  output (``<run>/connect-data/<key>.parquet``: the feature columns, the label, each row's CV fold, and the
  names/task/classes in the file's metadata), keyed by a hash of its content. Each executor's Python worker
  reads it on first use and keeps it in a module-level cache (:data:`_CACHE`) keyed by that hash; Spark
  reuses Python workers (``spark.python.worker.reuse``), so later trials there find it loaded. Every row
  records the worker's load count (``data_loads``): 1 on every row of a worker that loaded it once.
* **one trial = one ``mapInPandas`` over a one-row DataFrame** holding the trial request (params, budget,
  (trial, rung) as JSON); the row that comes back is the executor's half of the result row as JSON.
* **asynchronous dispatch**: Connect runs jobs from several client threads at once, so each in-flight
  trial is a client thread blocked on its own ``collect`` (:class:`~.base.PoolExecutor`), and the bounded
  in-flight loop (``search/loop.py``) submits the next trial the moment one finishes.
* **warm-up**: one task per slot loads the data and imports the model library / unpickles the user's
  object, before the search clock starts; an import problem is one line naming the module and executor.
* **cancellation**: every trial's operation carries the executor's tag (``SparkSession.addTag``); an
  interrupted search interrupts that tag (``interruptTag``).

The Parquet copy needs a path both the client and the executors read: the run's output, which on Connect is
a ``file://`` directory (the API refuses others in one line), shared when the server runs beside the
client (``hyperspark up --connect``) or on a shared mount.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from hyperspark.job.executors.base import PoolExecutor, ShippingReport
from hyperspark.job.executors.trial import (ObjectiveData, TrialContext, evaluate, executor_identity, preload,
                                            raise_import_problems)
from hyperspark.job.search.scheduler import Job

META_KEY = b"hyperspark"

_CACHE: dict[str, tuple] = {}  # data key -> (X, y, folds) in THIS Python worker
_LOADS: dict[str, int] = {}  # data key -> how many times this worker read it from Parquet
_LOCK = threading.Lock()


@dataclass(frozen=True)
class DataRef:
    """Where the trials' data is and what it is: ``path`` to its Parquet copy (None: nothing shipped, the
    ``value`` itself is the data, e.g. an objective's URI)."""

    key: str
    path: str | None
    value: object = None
    meta: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- client side: write once
def write_payload(payload: tuple, data_dir: str) -> tuple[DataRef, int]:
    """(X, y, folds) or (ObjectiveData, None, None) -> its Parquet copy under ``data_dir`` (a temp name, then
    renamed) and a reference to it; a payload that is not arrays (an objective's URI) ships as itself."""
    first, y, folds = payload
    if isinstance(first, ObjectiveData):
        meta = {"kind": "objective", "features": list(first.features), "label": first.label,
                "task": first.task, "classes": list(first.classes)}
        X, y, folds = first.X, first.y, []
    elif isinstance(first, np.ndarray):
        X, meta = first, {"kind": "arrays"}
    else:
        blob = json.dumps(first, default=str).encode()
        return DataRef("value:" + hashlib.sha256(blob).hexdigest()[:16], None, first), 0
    table, key = _table(np.asarray(X, dtype=np.float64), np.asarray(y), folds or [], meta)
    path = Path(data_dir) / f"{key}.parquet"
    if not path.exists():
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    return DataRef(key, str(path), None, meta), path.stat().st_size


def _table(X: np.ndarray, y: np.ndarray, folds: list, meta: dict):
    """The Parquet table: x0..xn, y, fold (the validation fold each row belongs to; -1 without folds)."""
    import pyarrow as pa

    fold = np.full(len(y), -1, dtype=np.int16)
    for k, (_tr, va) in enumerate(folds):
        fold[va] = k
    if folds and not _same_folds(fold, folds):
        raise RuntimeError("CV folds are not a partition of the training rows; cannot ship them as a column")
    cols = {f"x{i}": X[:, i] for i in range(X.shape[1])}
    cols.update(y=y, fold=fold)
    meta = {**meta, "folds": len(folds), "features_n": int(X.shape[1])}
    digest = hashlib.sha256()
    for a in (X, y, fold):
        digest.update(np.ascontiguousarray(a).tobytes())
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    table = pa.table(cols).replace_schema_metadata({META_KEY: json.dumps(meta, default=str).encode()})
    return table, digest.hexdigest()[:24]


def _same_folds(fold: np.ndarray, folds: list) -> bool:
    return all(np.array_equal(np.flatnonzero(fold == k), np.sort(va)) and
               np.array_equal(np.flatnonzero(fold != k), np.sort(tr)) for k, (tr, va) in enumerate(folds))


# --------------------------------------------------------------------------- executor side: read once
def load(ref: DataRef) -> tuple:
    """This worker's (X, y, folds) for ``ref``: from the cache, else read once from Parquet."""
    if ref.path is None:
        return ref.value, None, None
    with _LOCK:
        if ref.key not in _CACHE:
            _CACHE[ref.key] = _read(ref)
            _LOADS[ref.key] = _LOADS.get(ref.key, 0) + 1
        return _CACHE[ref.key]


def _read(ref: DataRef) -> tuple:
    import pyarrow.parquet as pq

    t = pq.read_table(ref.path)
    meta = json.loads(t.schema.metadata[META_KEY])
    X = np.column_stack([t.column(f"x{i}").to_numpy() for i in range(meta["features_n"])]).astype(np.float64)
    y, fold = t.column("y").to_numpy(), t.column("fold").to_numpy()
    if meta["kind"] == "objective":
        return ObjectiveData(X, y, meta["features"], meta["label"], meta["task"], meta["classes"]), None, None
    idx = np.arange(len(y))
    folds = [(idx[fold != k].astype(np.int32), idx[fold == k].astype(np.int32)) for k in range(meta["folds"])]
    return X, y, folds


def run_request(ctx: TrialContext, ref: DataRef, request: str) -> str:
    """One trial request (JSON) -> the executor's half of its row (JSON), with this worker's load count."""
    req = json.loads(request)
    X, y, folds = load(ref)
    key = tuple(req["key"]) if req.get("key") else None
    row = evaluate(ctx, req["params"], req["budget"], X, y, folds, key)
    row["data_loads"] = _LOADS.get(ref.key, 0) if ref.path is not None else None
    return json.dumps(row, default=_plain)


def warm_request(ctx: TrialContext, ref: DataRef) -> str:
    """Warm-up of one worker: import the model library / the user's code, then load the data."""
    eid, host = executor_identity()
    problem = preload(ctx)
    if problem is None:
        load(ref)
    return json.dumps([eid, host, os.getpid(), problem])


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def _trial_udf(ctx: TrialContext, ref: DataRef):
    def run(batches):
        import pandas as pd

        from hyperspark.job.executors.connect import run_request

        rows = [run_request(ctx, ref, r) for pdf in batches for r in pdf["request"]]
        yield pd.DataFrame({"row": rows})
    return run


def _warm_udf(ctx: TrialContext, ref: DataRef):
    def run(batches):
        import pandas as pd

        from hyperspark.job.executors.connect import warm_request

        for _ in batches:
            pass
        yield pd.DataFrame({"info": [warm_request(ctx, ref)]})
    return run


# --------------------------------------------------------------------------- client side: the executor
class ConnectExecutor(PoolExecutor):
    """Trials as one-row ``mapInPandas`` jobs from client threads; the data as Parquet, once per worker."""

    transport = "connect"

    def __init__(self, spark, ctx: TrialContext, payload: tuple, data_dir: str, slots: int, in_flight: int):
        super().__init__(in_flight, "connect-trial")
        self.spark, self.ctx, self.slots = spark, ctx, slots
        self.ref, self.payload_bytes = write_payload(payload, data_dir)
        self.tag = f"hyperspark-{uuid.uuid4().hex[:12]}"
        self._running = 0
        self._lock = threading.Lock()
        self.loads: dict[str, int] = {}  # "host/executor/pid" -> its load count (from the rows)

    def warm(self) -> list:
        """One task per slot loads the data and imports the model library, before the search clock starts."""
        self.spark.addTag(self.tag)
        try:
            df = self.spark.range(0, self.slots, 1, self.slots).mapInPandas(_warm_udf(self.ctx, self.ref),
                                                                            "info string")
            infos = [tuple(json.loads(r[0])) for r in df.collect()]
        finally:
            self.spark.removeTag(self.tag)  # the caller's thread keeps no tag of ours
        return raise_import_problems(self.ctx, [(eid, host, 0, problem) for eid, host, _pid, problem in infos])

    def _run(self, job: Job) -> dict:
        request = json.dumps({"params": job.config.params, "budget": job.budget, "key": list(job.key)},
                             default=_plain)
        from pyspark.sql.connect import functions as F  # Connect's own: the process may not be "remote"

        self.spark.addTag(self.tag)  # tags are per client thread
        with self._lock:
            self._running += 1
        try:
            df = (self.spark.range(0, 1, 1, 1).select(F.lit(request).alias("request"))
                  .mapInPandas(_trial_udf(self.ctx, self.ref), "row string"))
            row = json.loads(df.collect()[0][0])
        finally:
            with self._lock:
                self._running -= 1
        if row.get("data_loads") is not None:
            with self._lock:
                self.loads[f"{row.get('host')}/{row.get('executor_id')}/{row.get('pid')}"] = row["data_loads"]
        return row

    def close(self) -> None:
        with self._lock:
            running = self._running
        if running:  # an interrupted search: stop the trials still running on the server
            try:
                self.spark.interruptTag(self.tag)
            except Exception:  # noqa: BLE001 - the server may be gone already
                pass
        super().close()

    def report(self) -> ShippingReport:
        workers = len(self.loads)
        loads = sum(self.loads.values())
        shipped = self.ref.path is not None
        return ShippingReport(
            "parquet" if shipped else "value", self.transport, self.payload_bytes if shipped else None,
            loads if shipped else None, self.payload_bytes * loads if shipped else None, sorted(self.slots_seen),
            measured={"data_uri": Path(self.ref.path).as_uri() if shipped else None, "data_key": self.ref.key,
                      "python_workers": workers, "data_loads": loads},
            note="Spark Connect: one mapInPandas job per trial (no SparkContext for the classic pull tasks); "
                 "the data written once as Parquet and read once per Python worker")


def data_dir_for(store_uri: str) -> str:
    """``<run>/connect-data`` as a local path (the run's output is file:// on Connect)."""
    return str(Path(urlparse(store_uri).path) / "connect-data")
