"""executors/connect.py's data path without Spark: the client writes the trials' data once as Parquet
(features, label, each row's fold), a worker reads it back into its cache once, with the same arrays and
the same folds scikit-learn made."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from hyperspark.job import data as D
from hyperspark.job.executors import connect as C
from hyperspark.job.executors.trial import ObjectiveData


def test_arrays_and_folds_round_trip_and_load_once(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.integers(0, 2, 60)
    folds = D.cv_folds(y, "classification", 3, 7)
    ref, size = C.write_payload((X, y, folds), str(tmp_path / "connect-data"))
    assert size > 0 and ref.path.endswith(f"{ref.key}.parquet")
    assert pq.read_table(ref.path).column_names == ["x0", "x1", "x2", "x3", "y", "fold"]
    again, _ = C.write_payload((X, y, folds), str(tmp_path / "connect-data"))
    assert again == ref  # same data, same key and file: written once

    monkeypatch.setattr(C, "_CACHE", {})
    monkeypatch.setattr(C, "_LOADS", {})
    X2, y2, f2 = C.load(ref)
    assert np.array_equal(X2, X) and np.array_equal(y2, y)
    assert all(np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(f2, folds))
    assert C.load(ref)[0] is X2 and C._LOADS == {ref.key: 1}  # the second use is the cache


def test_objective_data_and_a_uri(tmp_path):
    X, y = np.arange(12.0).reshape(6, 2), np.array([0.5, 1, 2, 3, 4, 5])
    od = ObjectiveData(X, y, ["a", "b"], "t", "regression", [])
    ref, _ = C.write_payload((od, None, None), str(tmp_path))
    back, none1, none2 = C._read(ref)
    assert isinstance(back, ObjectiveData) and back.features == ["a", "b"] and back.label == "t"
    assert np.array_equal(back.X, X) and np.array_equal(back.y, y) and none1 is None and none2 is None
    uri, size = C.write_payload(("hdfs://nn/imgs", None, None), str(tmp_path))
    assert uri.path is None and size == 0 and C.load(uri) == ("hdfs://nn/imgs", None, None)
