"""Run-dir integrity, on the job's real pipeline (``run.run`` without Spark: the joblib executor) and on the
JVM's Hadoop FileSystem (the ``spark`` session's, over file://).

* a second driver on the same run id stops with one line (the first holds ``<run>/.lock``);
* a resume with other data (an ``upload --force`` of a new file) is one line, ``force`` starts it over;
* a data set in a dir with a space and non-ASCII characters loads (file:// URIs are percent-encoded);
* Hadoop writes rename over the old file in one step (never delete-then-rename), and leave no temporary file;
* the Hadoop run lease refuses a second holder until released or expired;
* every attempt of a run keeps its own driver log.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hyperspark.errors import JobInputError
from hyperspark.job.protocol import parse_trials
from hyperspark.job.run import run
from hyperspark.job.spec import parse_spec


def _data(path: Path, flip: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["a,b,target"] + [f"{i},{(i * 7) % 5},{(i % 2) ^ int(flip and i % 3 == 0)}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _spec(data: Path, out: Path) -> object:
    return parse_spec({"name": "rd", "dataset": {"uri": str(data), "label": "target"},
                       "model": "sklearn.decision_tree", "search": {"type": "grid"},
                       "space": {"max_depth": [1, 2]}, "metric": "accuracy", "cv_folds": 2, "seed": 1,
                       "output": str(out)})


def _run(spec, run_id: str, **kw):
    return run(None, spec, run_id, log=lambda s: None, progress_live=False, progress_lines=False, **kw)


def test_a_second_driver_on_the_same_run_id_stops_with_one_line(tmp_path: Path) -> None:
    spec = _spec(_data(tmp_path / "d.csv"), tmp_path / "out")
    holder = subprocess.Popen(  # another driver process holding the run dir
        [sys.executable, "-c", "import sys, time\nfrom hyperspark.job.results import LocalFS, RunStore\n"
         "s = RunStore(LocalFS(sys.argv[1]), 'r1'); s.acquire(); print('held', flush=True); time.sleep(120)",
         (tmp_path / "out").as_uri()], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(JobInputError) as err:
            _run(spec, "r1")
        msg = str(err.value)
        assert "\n" not in msg and "in use by another driver" in msg and f"pid {holder.pid}" in msg, msg
        assert not (tmp_path / "out" / "r1" / "trials.jsonl").exists()
    finally:
        holder.kill()
        holder.wait(10)
    assert _run(spec, "r1").best_params  # the holder died: the kernel dropped its lock


def test_resume_with_other_data_is_one_line_and_force_starts_over(tmp_path: Path) -> None:
    data = _data(tmp_path / "d.csv")
    spec = _spec(data, tmp_path / "out")
    first = _run(spec, "r2")
    _data(data, flip=True)  # `upload --force` of a new file under the same name
    with pytest.raises(JobInputError) as err:
        _run(_spec(data, tmp_path / "out"), "r2")  # (a finished run released its lock: this one got in)
    assert "\n" not in str(err.value) and "made with other data" in str(err.value) and "--force" in str(err.value)
    again = _run(_spec(data, tmp_path / "out"), "r2", force=True)
    assert again.data.hash != first.data.hash
    rows = parse_trials((tmp_path / "out" / "r2" / "trials.jsonl").read_text())
    assert len(rows) == 2  # the old search's rows are gone, not mixed in


def test_a_data_set_under_a_path_with_a_space_and_non_ascii_loads(tmp_path: Path) -> None:
    data = _data(tmp_path / "my data" / "dätä é.csv")
    spec = _spec(data, tmp_path / "out put")
    assert "%20" in spec.dataset.uri  # the spec percent-encodes the file:// URI
    summary = _run(spec, "r3")
    assert summary.best_params and (tmp_path / "out put" / "r3" / "summary.json").is_file()


class _Spy:
    """The Hadoop FileSystem object, with its delete calls recorded (every call still reaches the JVM)."""

    def __init__(self, fs) -> None:
        self._fs = fs
        self.deleted: list[str] = []

    def delete(self, path, recursive):
        self.deleted.append(str(path.toString()))
        return self._fs.delete(path, recursive)

    def __getattr__(self, name):
        return getattr(self._fs, name)


@pytest.mark.spark
def test_hadoop_writes_rename_over_the_old_file_in_one_step(spark, tmp_path: Path) -> None:
    from hyperspark.job.results import HadoopFS

    fs = HadoopFS(spark, (tmp_path / "h").as_uri())
    fs.write_bytes("r/trials.jsonl", b"one\n")
    spy = _Spy(fs.fs)
    fs.fs = spy
    fs.write_bytes("r/trials.jsonl", b"one\ntwo\n")
    assert fs.read_bytes("r/trials.jsonl") == b"one\ntwo\n"
    assert not [d for d in spy.deleted if d.endswith("/r/trials.jsonl")], spy.deleted  # never delete-then-rename
    assert sorted(p.name for p in (tmp_path / "h" / "r").iterdir() if not p.name.endswith(".crc")) == ["trials.jsonl"]


@pytest.mark.spark
def test_the_hadoop_run_lease_admits_one_driver(spark, tmp_path: Path, monkeypatch) -> None:
    import json
    import time

    from hyperspark.job import results

    fs = results.HadoopFS(spark, (tmp_path / "h").as_uri())
    first = fs.lock("r")
    with pytest.raises(JobInputError, match="in use by another driver"):
        fs.lock("r")
    first.release()
    second = fs.lock("r")
    second.release()
    # a driver that died left its lease: once expired, the next driver takes it over
    fs.write_bytes("r/.lock", json.dumps({"pid": 1, "host": "gone", "since": 0, "owner": "x",
                                          "expires": time.time() - 1}).encode())
    fs.lock("r").release()


def test_every_attempt_of_a_run_keeps_its_driver_log(tmp_path: Path) -> None:
    from hyperspark.ops.state import StateDir
    from hyperspark.ops.targets.local.spark_submit import run_driver
    from hyperspark.ops.targets.submit import submit

    class Launcher:  # a target whose driver is a real child process (the submit path is the real one)
        supports_warm = False
        state = StateDir(tmp_path / "state")

        def before_submit(self, request):
            pass

        def launch_warm(self, request, output):
            return None

        def launch_driver(self, request, output):
            return run_driver([sys.executable, "-c", f"print('attempt of {request.run_id}'); raise SystemExit(1)"],
                              {}, output)

        def read_text(self, uri):
            raise OSError

        def status(self):
            raise AssertionError

    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\n")
    for _ in range(3):
        assert submit(Launcher(), spec, run_id="r4").exit_code == 1
    logs = sorted(p.name for p in (tmp_path / "state" / "logs").glob("driver-r4*.log"))
    assert logs == ["driver-r4.2.log", "driver-r4.3.log", "driver-r4.log"]
    assert all("attempt of r4" in (tmp_path / "state" / "logs" / n).read_text() for n in logs)
