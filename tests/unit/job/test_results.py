"""hyperspark.job.results on a local file:// directory: atomic writes (nothing half-written, no temporary
names left), RunStore's JSON files, the trials.jsonl flush rule and load_trials (no Spark)."""
from __future__ import annotations

import json

import pytest

from hyperspark.errors import JobInputError
from hyperspark.job.protocol import TrialResult
from hyperspark.job.results import LocalFS, RunStore, open_fs


def trial(i: int, rung: int = 0, mean: float = 0.5) -> TrialResult:
    return TrialResult(trial_id=f"t{i}", params={"i": i}, status="ok", number=i, rung=rung, mean=mean)


def leftovers(root) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def fs(tmp_path) -> LocalFS:
    fs = open_fs(None, (tmp_path / "out").as_uri())
    assert isinstance(fs, LocalFS)
    return fs


def test_open_fs_needs_spark_only_for_other_file_systems(tmp_path):
    assert isinstance(open_fs(None, str(tmp_path)), LocalFS)  # a plain path is file://
    with pytest.raises(JobInputError, match="^output hdfs://nn:8020/runs: needs a Spark session to reach hdfs://$"):
        open_fs(None, "hdfs://nn:8020/runs")


def test_write_bytes_replaces_whole_files_and_leaves_no_temporary_name(fs, tmp_path):
    fs.write_bytes("r/a.txt", b"first")
    fs.write_bytes("r/a.txt", b"second")
    assert (tmp_path / "out" / "r" / "a.txt").read_bytes() == b"second" and fs.read_bytes("r/a.txt") == b"second"
    assert leftovers(tmp_path) == [] and fs.read_bytes("r/none.txt") is None
    assert fs.uri("r/a.txt") == (tmp_path / "out" / "r" / "a.txt").as_uri()


def test_a_failed_write_keeps_the_old_file_and_no_partial_one(fs, tmp_path):
    fs.write_bytes("r/a.txt", b"good")
    with pytest.raises(TypeError):
        fs.write_bytes("r/a.txt", "not bytes")  # fails inside the write, after the temporary file exists
    assert fs.read_bytes("r/a.txt") == b"good" and leftovers(tmp_path) == []


def test_rename_dir_replaces_the_destination_and_delete_removes(fs):
    fs.write_bytes("r/model.tmp-dir/x", b"new")
    fs.write_bytes("r/model/old", b"old")
    fs.rename_dir("r/model.tmp-dir", "r/model")
    assert fs.read_bytes("r/model/x") == b"new" and not fs.exists("r/model/old") and not fs.exists("r/model.tmp-dir")
    fs.delete("r/model")
    fs.delete("r/never-was")  # nothing there: no error
    assert not fs.exists("r/model")


def test_run_store_json_round_trip(fs):
    store = RunStore(fs, "run-1")
    assert store.uri.endswith("/out/run-1") and store.read_json("summary.json") is None
    store.write_json("spec.json", {"b": 1, "a": [1, 2]})
    assert store.read_json("spec.json") == {"a": [1, 2], "b": 1}
    assert fs.read_bytes("run-1/spec.json").decode().endswith("\n")


def test_trials_are_flushed_at_most_once_per_interval_and_on_demand(fs):
    store = RunStore(fs, "r", flush_every_s=3600)
    store.add_trial(trial(0))
    store.flush()
    assert [r.trial_id for r in RunStore(fs, "r").load_trials()] == ["t0"]
    store.add_trial(trial(1))
    store.add_trial(trial(2))
    assert len(RunStore(fs, "r").load_trials()) == 1  # within the interval: not yet written
    store.flush()
    assert [r.trial_id for r in RunStore(fs, "r").load_trials()] == ["t0", "t1", "t2"]
    fs.write_bytes("r/trials.jsonl", b"")  # a flush with nothing new does not rewrite the file
    store.flush()
    assert fs.read_bytes("r/trials.jsonl") == b""


def test_every_add_flushes_with_a_zero_interval(fs):
    store = RunStore(fs, "r", flush_every_s=0)
    for i in range(3):
        store.add_trial(trial(i))
        assert len(RunStore(fs, "r").load_trials()) == i + 1


def test_load_trials_keeps_the_first_row_per_key_and_skips_bad_lines(fs):
    lines = [trial(0, mean=0.1).to_line(), "", "{torn", trial(0, mean=0.9).to_line(), trial(0, rung=1).to_line(),
             json.dumps({"trial_id": "x"})]
    fs.write_bytes("r/trials.jsonl", ("\n".join(lines) + "\n").encode())
    rows = RunStore(fs, "r").load_trials()
    assert [(r.trial_id, r.rung, r.mean) for r in rows] == [("t0", 0, 0.1), ("t0", 1, 0.5)]
    assert RunStore(fs, "absent").load_trials() == []
