"""hyperspark.job.data's in-driver back end on small pandas frames: feature selection, task inference and
label encoding, the NaN policy, the data fingerprint, the held-out split and the CV folds (no Spark)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hyperspark.errors import JobInputError
from hyperspark.job.data import check_missing, cv_folds, decide_task, prepare_local, read_local, split_numpy


def frame(n: int = 12, label=None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "a": rng.normal(size=n),
        "name": [f"row{i}" for i in range(n)],  # not numeric: never a default feature
        "b": np.arange(n, dtype=np.int64),
        "y": label if label is not None else ["no", "yes"] * (n // 2),
    })


# --------------------------------------------------------------------------- prepare_local
def test_default_features_are_the_numeric_columns_and_string_labels_are_encoded_in_sorted_order():
    d = prepare_local(frame(label=["yes", "no", "maybe"] * 4), "y", None, None, "fail")
    assert d.features == ["a", "b"] and d.task == "classification" and d.classes == ["maybe", "no", "yes"]
    assert d.y.tolist() == [2, 1, 0] * 4 and d.y.dtype == np.int64
    assert d.X.shape == (12, 2) and d.X.dtype == np.float64 and d.X[:, 1].tolist() == list(range(12))
    assert (d.rows, d.dropped_rows, d.n_classes) == (12, 0, 3)


def test_task_is_inferred_from_the_label_and_can_be_forced():
    assert prepare_local(frame(label=[0, 1, 2] * 4), "y", ["a"], None, "fail").task == "classification"
    reg = prepare_local(frame(label=np.linspace(0, 1, 12)), "y", ["a"], None, "fail")
    assert reg.task == "regression" and reg.classes == [] and reg.y.dtype == np.float64
    forced = prepare_local(frame(label=[0, 1, 2] * 4), "y", ["a"], "regression", "fail")
    assert forced.task == "regression" and forced.y.tolist() == [0.0, 1.0, 2.0] * 4
    many = prepare_local(frame(n=30, label=list(range(30))), "y", ["a"], None, "fail")
    assert many.task == "regression"  # more than MAX_CLASSES integers: a quantity, not classes


@pytest.mark.parametrize("label,features,task,message", [
    ("nope", None, None, "dataset: label column 'nope' not found; columns: a, name, b, y"),
    ("y", ["a", "zz"], None, "dataset: feature column(s) not found: zz"),
    ("y", ["a", "y"], None, "dataset: the label 'y' is also listed as a feature"),
    ("y", ["a", "name"], None, "dataset: non-numeric feature column(s): name (string)"),
    ("y", ["a"], "regression", "dataset: regression needs a numeric label; 'y' is string"),
])
def test_bad_columns_are_one_line(label, features, task, message):
    with pytest.raises(JobInputError) as e:
        prepare_local(frame(), label, features, task, "fail")
    assert str(e.value) == message


def test_one_class_and_empty_frames_are_refused():
    with pytest.raises(JobInputError, match="label 'y' has only one class \\('no'\\)"):
        prepare_local(frame(label=["no"] * 12), "y", ["a"], None, "fail")
    with pytest.raises(JobInputError, match="^dataset: no rows$"):
        prepare_local(frame().iloc[:0], "y", ["a"], None, "fail")
    with pytest.raises(JobInputError, match="has more than 20 distinct values"):
        prepare_local(frame(n=30, label=[f"c{i}" for i in range(30)]), "y", ["a"], None, "fail")


def test_nan_policy_fail_names_the_count_and_drop_drops_them():
    df = frame()
    df.loc[[1, 4], "a"] = np.nan
    df.loc[7, "name"] = None  # not a selected column: does not count
    with pytest.raises(JobInputError) as e:
        prepare_local(df, "y", None, None, "fail")
    assert str(e.value).startswith("dataset: 2 of 12 rows have missing values (null/NaN) in the label or features;")
    d = prepare_local(df, "y", None, None, "drop")
    assert (d.rows, d.dropped_rows) == (10, 2) and d.X.shape == (10, 2) and not np.isnan(d.X).any()
    assert d.X[:, 1].tolist() == [0, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    with pytest.raises(JobInputError, match="no rows left after dropping"):
        check_missing(5, 5, "drop")


def test_fingerprint_follows_the_data_as_kept():
    base = prepare_local(frame(), "y", None, None, "fail").data_hash
    assert base.startswith("sha256:") and len(base) == len("sha256:") + 64
    assert prepare_local(frame(), "y", None, None, "fail").data_hash == base
    changed = frame()
    changed.loc[3, "b"] = 99
    assert prepare_local(changed, "y", None, None, "fail").data_hash != base
    assert prepare_local(frame(), "y", ["a"], None, "fail").data_hash != base  # other features
    unused = frame()
    unused["name"] = "x"  # a column that is not selected does not change the hash
    assert prepare_local(unused, "y", None, None, "fail").data_hash == base
    with_nan = pd.concat([frame(), frame().iloc[:1].assign(a=np.nan)], ignore_index=True)
    assert prepare_local(with_nan, "y", None, None, "drop").data_hash == base  # dropped rows leave no trace


def test_decide_task_classes_are_sorted():
    assert decide_task([3, 1, 2], "y", "bigint", None) == ("classification", [1, 2, 3])
    assert decide_task([0.5, 1.5], "y", "double", None) == ("regression", [])


def test_read_local_errors_are_one_line(tmp_path):
    with pytest.raises(JobInputError, match="^dataset not found: file://"):
        read_local((tmp_path / "missing.csv").as_uri(), "csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(JobInputError, match="has no columns$"):
        read_local((tmp_path / "empty.csv").as_uri(), "csv")
    frame().to_csv(tmp_path / "ok.csv", index=False)
    assert read_local((tmp_path / "ok.csv").as_uri(), "csv").shape == (12, 4)


# --------------------------------------------------------------------------- split and folds
def test_split_is_stratified_and_reproducible():
    X = np.arange(100, dtype=float).reshape(50, 2)
    y = np.array([0] * 40 + [1] * 10)
    X_tr, X_te, y_tr, y_te = split_numpy(X, y, "classification", 0.2, seed=1)
    assert len(y_te) == 10 and y_te.sum() == 2 and y_tr.sum() == 8  # the 4:1 ratio on both sides
    again = split_numpy(X, y, "classification", 0.2, seed=1)
    assert np.array_equal(again[1], X_te) and not np.array_equal(split_numpy(X, y, "classification", 0.2, 2)[1], X_te)
    assert sorted(np.concatenate([X_tr[:, 0], X_te[:, 0]]).tolist()) == X[:, 0].tolist()
    with pytest.raises(JobInputError, match="^dataset: cannot split with test_fraction=0.01: "):
        split_numpy(X, y, "classification", 0.01, seed=1)  # one test row cannot hold both classes


def test_cv_folds_partition_the_rows_and_keep_every_class_in_every_fold():
    y = np.array([0] * 12 + [1] * 6)
    folds = cv_folds(y, "classification", 3, seed=0)
    assert len(folds) == 3
    held_out = np.concatenate([va for _tr, va in folds])
    assert sorted(held_out.tolist()) == list(range(18))  # each row validated exactly once
    for tr, va in folds:
        assert tr.dtype == np.int32 and set(tr) | set(va) == set(range(18)) and not set(tr) & set(va)
        assert np.bincount(y[va]).tolist() == [4, 2]
    assert [va.tolist() for _t, va in cv_folds(y, "classification", 3, 0)] == [va.tolist() for _t, va in folds]


def test_cv_folds_refuse_too_few_rows():
    with pytest.raises(JobInputError) as e:
        cv_folds(np.array([0] * 10 + [1] * 2), "classification", 3, 0)
    assert str(e.value) == "dataset: the smallest class has 2 training rows, fewer than cv_folds=3"
    with pytest.raises(JobInputError, match="^dataset: 4 training rows are fewer than cv_folds=5$"):
        cv_folds(np.linspace(0, 1, 4), "regression", 5, 0)
    assert len(cv_folds(np.linspace(0, 1, 10), "regression", 5, 0)) == 5
