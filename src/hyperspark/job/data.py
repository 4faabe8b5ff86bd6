"""Stage 1: load the data set, validate it, infer the task, fingerprint it, split it.

Two back ends with the same checks and messages: Spark (MLlib strategy: the data stays distributed)
and pandas in the driver (single-machine libraries: the data must be in one process anyway).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from hyperspark.errors import JobInputError
from hyperspark.job.protocol import one_line

NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")
MAX_CLASSES = 20  # an integer label with at most this many distinct values is read as classes


@dataclass
class Prepared:
    df: object  # pyspark DataFrame holding label + features only, label encoded for classification
    label: str
    features: list[str]
    task: str
    classes: list = field(default_factory=list)  # original label values, index = encoded label
    rows: int = 0
    dropped_rows: int = 0
    data_hash: str = ""
    cached: object = None  # the cached frame ``df`` derives from (unpersisted once the run is done)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def load(spark, uri: str, fmt: str):
    """Read CSV (header, inferred types) or Parquet. Missing/unreadable -> one-line JobInputError."""
    from pyspark.errors import AnalysisException

    try:
        if fmt == "parquet":
            df = spark.read.parquet(uri)
        else:
            df = spark.read.option("header", True).option("inferSchema", True).csv(uri)
        df.schema  # noqa: B018 - forces the read of metadata / schema inference now
    except AnalysisException as e:
        msg = str(e)
        if "PATH_NOT_FOUND" in msg or "does not exist" in msg:
            raise JobInputError(f"dataset not found: {uri}") from None
        raise JobInputError(f"cannot read dataset {uri}: {_first_line(msg)}") from None
    except Exception as e:  # py4j errors from the file system (permissions, bad host ...)
        raise JobInputError(f"cannot read dataset {uri}: {_first_line(str(e))}") from None
    if not df.columns:
        raise JobInputError(f"dataset {uri} has no columns")
    return df


def _first_line(msg: str) -> str:
    return one_line(msg) or "unknown error"


def _is_numeric(dtype: str) -> bool:
    return dtype.split("(")[0] in NUMERIC


def select_features(columns: list[str], dtypes: dict[str, str], label: str, features: list[str] | None) -> list[str]:
    """Shared by both back ends: the label exists, features exist and are numeric (default: all numeric)."""
    if label not in dtypes:
        raise JobInputError(f"dataset: label column {label!r} not found; columns: {', '.join(columns)}")
    if features is None:
        features = [c for c in columns if c != label and _is_numeric(dtypes[c])]
        if not features:
            raise JobInputError("dataset: no numeric feature columns besides the label")
        return features
    missing = [c for c in features if c not in dtypes]
    if missing:
        raise JobInputError(f"dataset: feature column(s) not found: {', '.join(missing)}")
    if label in features:
        raise JobInputError(f"dataset: the label {label!r} is also listed as a feature")
    bad = [f"{c} ({dtypes[c]})" for c in features if not _is_numeric(dtypes[c])]
    if bad:
        raise JobInputError(f"dataset: non-numeric feature column(s): {', '.join(bad)}")
    return features


def check_missing(n: int, nan_rows: int, nan_policy: str) -> int:
    """Rows left after the NaN policy (fail, or drop and say so)."""
    if nan_rows and nan_policy != "drop":
        raise JobInputError(
            f"dataset: {nan_rows} of {n} rows have missing values (null/NaN) in the label or features; "
            "set dataset.nan_policy: drop to drop them"
        )
    if n - nan_rows == 0:
        raise JobInputError("dataset: no rows left after dropping rows with missing values")
    return n - nan_rows


def check_finite(n: int, inf_rows: int) -> None:
    """No model trains on an infinite value (whatever the NaN policy): one line, before any trial."""
    if inf_rows:
        raise JobInputError(f"dataset: {inf_rows} of {n} rows have infinite values (inf/-inf) in the label or "
                            "features; replace or remove them")


def decide_task(distinct: list, label: str, label_dtype: str, task: str | None) -> tuple[str, list]:
    """(task, sorted classes) from the label's distinct values (at most MAX_CLASSES + 1 of them)."""
    if task is None:
        task = _infer_task(distinct, label_dtype)
    if task == "regression":
        if not _is_numeric(label_dtype):
            raise JobInputError(f"dataset: regression needs a numeric label; {label!r} is {label_dtype}")
        return task, []
    if len(distinct) > MAX_CLASSES:
        raise JobInputError(
            f"dataset: label {label!r} has more than {MAX_CLASSES} distinct values; "
            "set task: regression, or use a label with fewer classes"
        )
    if len(distinct) < 2:
        raise JobInputError(
            f"dataset: label {label!r} has only one class ({distinct[0]!r}); classification needs two or more"
        )
    return task, sorted(distinct)


def prepare(df, label: str, features: list[str] | None, task: str | None, nan_policy: str) -> Prepared:
    """Spark back end (MLlib strategy): the data stays distributed; returns label + features only."""
    from pyspark.sql import functions as F

    dtypes = dict(df.dtypes)
    if label in dtypes and not df.limit(1).take(1):  # a header-only CSV infers every column as string
        raise JobInputError("dataset: no rows")
    features = select_features(df.columns, dtypes, label, features)
    cols = [label] + features
    # cached: the checks below and the fits that follow read it again (a CSV would be re-parsed)
    df = cached = df.select(*cols).cache()
    missing_any = F.lit(False)
    for c in cols:
        cond = F.col(c).isNull()
        if dtypes[c] in ("float", "double"):
            cond = cond | F.isnan(F.col(c))
        missing_any = missing_any | cond
    h = F.xxhash64(*cols)
    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(missing_any, 1).otherwise(0)).alias("nan_rows"),
        F.sum(F.when(_infinite(F, cols, dtypes), 1).otherwise(0)).alias("inf_rows"),
        F.bit_xor(h).alias("hx"),
        F.sum((h % F.lit(2**31)).cast("long")).alias("hs"),
    ).first()
    n, nan_rows = int(row["n"]), int(row["nan_rows"] or 0)
    check_finite(n, int(row["inf_rows"] or 0))
    kept = check_missing(n, nan_rows, nan_policy)
    if nan_rows:
        df = df.where(~missing_any)
    fingerprint = f"{kept}:{row['hx']}:{row['hs']}:{','.join(f'{c}:{dtypes[c]}' for c in cols)}"
    data_hash = "sha256:" + hashlib.sha256(fingerprint.encode()).hexdigest()
    distinct = [r[0] for r in df.select(label).distinct().limit(MAX_CLASSES + 1).collect()]
    task, classes = decide_task(distinct, label, dtypes[label], task)
    if task == "classification":
        mapping = F.create_map(*[x for i, c in enumerate(classes) for x in (F.lit(c), F.lit(float(i)))])
        df = df.withColumn(label, mapping[F.col(label)])
    else:
        df = df.withColumn(label, F.col(label).cast("double"))
    return Prepared(df, label, features, task, classes, kept, nan_rows, data_hash, cached)


def _infinite(F, cols: list[str], dtypes: dict[str, str]):
    cond = F.lit(False)
    for c in cols:
        if dtypes[c] in ("float", "double"):
            cond = cond | F.col(c).isin(float("inf"), float("-inf"))
    return cond


def _infer_task(distinct: list, dtype: str) -> str:
    if not _is_numeric(dtype):
        return "classification"
    if len(distinct) <= MAX_CLASSES and all(float(v).is_integer() for v in distinct):
        return "classification"
    return "regression"


# --------------------------------------------------------------------------- in-driver back end
@dataclass
class LocalData:
    """The single-machine strategy's data: it has to be in the driver anyway, as numpy arrays."""
    X: np.ndarray
    y: np.ndarray
    label: str
    features: list[str]
    task: str
    classes: list
    rows: int
    dropped_rows: int
    data_hash: str

    @property
    def n_classes(self) -> int:
        return len(self.classes)


_PANDAS_TYPES = {"i": "bigint", "u": "bigint", "f": "double", "b": "boolean"}


def _pandas_dtype(dt) -> str:
    return _PANDAS_TYPES.get(getattr(dt, "kind", "O"), "string")


def read_local(uri: str, fmt: str):
    """A file:// data set read straight into the driver with pandas: the single-machine libraries need
    it there, and a Spark read + collect of the same file costs ~10 s of fixed time (see the bench)."""
    import pandas as pd

    from hyperspark.job.results import local_path

    path = local_path(uri)  # file:///my%20data/x.csv is /my data/x.csv
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except FileNotFoundError:
        raise JobInputError(f"dataset not found: {uri}") from None
    except pd.errors.EmptyDataError:
        raise JobInputError(f"dataset {uri} has no columns") from None
    except Exception as e:  # noqa: BLE001 - permissions, a directory, a corrupt file ...
        raise JobInputError(f"cannot read dataset {uri}: {_first_line(str(e))}") from None


def load_for_driver(spark, uri: str, fmt: str):
    """pandas DataFrame of the whole data set: direct for file://, through Spark for hdfs:// and others."""
    if uri.startswith("file://"):
        return read_local(uri, fmt)
    return load(spark, uri, fmt).toPandas()


def prepare_local(pdf, label: str, features: list[str] | None, task: str | None, nan_policy: str) -> LocalData:
    """The same checks and messages as :func:`prepare`, on a pandas DataFrame."""
    import pandas as pd

    columns = [str(c) for c in pdf.columns]
    dtypes = {c: _pandas_dtype(pdf[c].dtype) for c in columns}
    if label in dtypes and len(pdf) == 0:
        raise JobInputError("dataset: no rows")
    features = select_features(columns, dtypes, label, features)
    cols = [label] + features
    frame = pdf[cols]
    missing = frame.isna().any(axis=1)
    nan_rows = int(missing.sum())
    numeric = frame.select_dtypes("number")
    check_finite(len(frame), int(np.isinf(numeric.to_numpy(dtype=np.float64)).any(axis=1).sum()))
    kept = check_missing(len(frame), nan_rows, nan_policy)
    if nan_rows:
        frame = frame[~missing]
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(",".join(f"{c}:{dtypes[c]}" for c in cols).encode())
    distinct = list(pd.unique(frame[label]))[: MAX_CLASSES + 1]
    task, classes = decide_task([_py(v) for v in distinct], label, dtypes[label], task)
    X = frame[features].to_numpy(dtype=np.float64)
    if task == "classification":
        y = np.searchsorted(np.asarray(classes, dtype=object if dtypes[label] == "string" else None),
                            frame[label].to_numpy()).astype(np.int64)
    else:
        y = frame[label].to_numpy(dtype=np.float64)
    return LocalData(X, y, label, features, task, classes, kept, nan_rows, "sha256:" + digest.hexdigest())


def _py(v):
    return v.item() if hasattr(v, "item") else v


def split_numpy(X, y, task: str, test_fraction: float, seed: int):
    """Held-out split, stratified for classification (scikit-learn's train_test_split)."""
    from sklearn.model_selection import train_test_split

    strat = y if task == "classification" else None
    try:
        return train_test_split(X, y, test_size=test_fraction, random_state=seed, stratify=strat)
    except ValueError as e:
        raise JobInputError(f"dataset: cannot split with test_fraction={test_fraction}: {e}") from None


def cv_folds(y, task: str, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The k folds every trial uses (computed once on the driver, shipped with the data)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "classification":
        counts = np.bincount(y)
        if counts[counts > 0].min() < k:
            raise JobInputError(
                f"dataset: the smallest class has {counts[counts > 0].min()} training rows, fewer than "
                f"cv_folds={k}"
            )
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        if len(y) < k:
            raise JobInputError(f"dataset: {len(y)} training rows are fewer than cv_folds={k}")
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr.astype(np.int32), va.astype(np.int32)) for tr, va in splitter.split(np.zeros(len(y)), y)]
