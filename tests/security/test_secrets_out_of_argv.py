"""Secrets out of argv and logs: a real ``hyperspark submit`` on the local cluster carries a fake token as a
``--conf`` (an S3A secret key). While it runs no process shows the token in its command line; afterwards no
file under the state dir (logs, driver log, state ``start:`` lines, runs.json, event logs, worker dirs) or the
run's output holds it, and the properties file that carried it is gone. The token did reach Spark: the
event log names its key (its value redacted by Spark itself).

Crash logs and ``start:`` lines are written by the kit with the same rule (``hyperspark.job.redact``): both
are checked here on real files too. The token is built at run time (the repository's secret scan)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from tests.paths import REPO

TOKEN = "FAKE" + "TOKEN123"
S3A_CONF = "spark.hadoop.fs.s3a." + "secret" + ".key"
SPEC = REPO / "examples" / "breast_cancer_sklearn.yaml"
SMALL = ["--set", "space.n_estimators=[10]", "--set", "space.max_depth=[2]", "--set", "space.min_samples_leaf=[1,2]"]


def _files_holding(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    hits.append(str(path))
            except OSError:
                continue
    return hits


class ArgvWatch:
    """Every process's command line, sampled with psutil while the submit runs."""

    def __init__(self) -> None:
        self.hits: set[str] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for p in psutil.process_iter(["cmdline"]):
                line = " ".join(p.info.get("cmdline") or [])
                if TOKEN in line:
                    self.hits.add(line[:300])
            self.samples += 1

    def __enter__(self) -> "ArgvWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)


def _conf_tmp_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("hyperspark-conf-*")}


@pytest.mark.cluster
@pytest.mark.spark
def test_a_submit_carrying_a_token_keeps_it_out_of_argv_logs_and_state(local_cluster) -> None:
    from hyperspark.ops.cli import cli
    from hyperspark.ops.targets.local import warm

    warm.stop(local_cluster)  # a --conf goes cold anyway; make sure no warm driver of another module is up
    state = local_cluster.state.root
    out = (local_cluster.state.storage_dir / "runs").as_uri()
    before = _conf_tmp_dirs()
    with ArgvWatch() as watch:
        res = CliRunner().invoke(cli, ["--target", "local", "--state-dir", str(state), "submit", str(SPEC),
                                       "--run-id", "sec-token", "--set", f"output={out}", *SMALL,
                                       "--conf", f"{S3A_CONF}={TOKEN}",
                                       # plain event logs (Spark 4 compresses them): the grep below reads them
                                       "--conf", "spark.eventLog.compress=false", "--json"], prog_name="hyperspark")
    assert res.exit_code == 0, res.output
    assert watch.samples > 10  # the watch ran while the driver did
    assert not watch.hits, f"the token is in a command line: {sorted(watch.hits)}"
    assert TOKEN not in res.output
    run_dir = Path(json.loads(res.stdout)["output_uri"].removeprefix("file://"))
    assert not _files_holding(state, TOKEN.encode()), "the token was written under the state dir"
    assert not _files_holding(run_dir, TOKEN.encode()), "the token was written in the run's output"
    assert _conf_tmp_dirs() <= before, "the properties file that carried the token was left behind"

    log = local_cluster.logs("driver")
    assert log.startswith("$ ") and "--properties-file" in log.splitlines()[0]
    assert S3A_CONF not in log.splitlines()[0]  # not even the key goes on the command line
    # the conf reached the driver: Spark's event log lists the key (with its own "(redacted)" value)
    assert _files_holding(local_cluster.events_dir, S3A_CONF.encode())

    # the state dir is private, its secret-holding files 0600, and it carries the marker
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(state / "runs.json").st_mode) == 0o600
    assert (state / ".hyperspark-state").is_file()


def test_crash_logs_and_start_lines_hide_secrets(tmp_path, monkeypatch) -> None:
    from hyperspark.ops import crash
    from hyperspark.ops.state import StateDir

    monkeypatch.setenv("HYPERSPARK_STATE_DIR", str(tmp_path / "state"))
    try:
        raise RuntimeError(f"boom with {{'{S3A_CONF}': '{TOKEN}'}} and http://bob:{TOKEN}@mlflow:5000")
    except RuntimeError as exc:
        log = crash.save_log(exc, ["submit", "x.yaml", "--conf", f"{S3A_CONF}={TOKEN}",
                                   "--mlflow", f"http://bob:{TOKEN}@mlflow:5000", "--set", f"tracking.token={TOKEN}"])
    assert log is not None and log.is_relative_to(tmp_path)
    text = log.read_text()
    assert TOKEN not in text and "***" in text and "boom" in text
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600

    state = StateDir(tmp_path / "state")
    pid = state.spawn("echo", [sys.executable, "-c", "pass", f"--password={TOKEN}", f"s3a://k:{TOKEN}@bucket/x"],
                      dict(os.environ))
    assert pid > 0
    start_lines = state.log_file("echo").read_text()
    assert "start:" in start_lines and TOKEN not in start_lines
    assert stat.S_IMODE(os.stat(state.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(state.pid_file("echo")).st_mode) == 0o600


def test_secret_confs_go_to_a_private_properties_file_not_argv(tmp_path) -> None:
    """The spark-submit command line the local target builds (read back by a real spark-submit JVM parser is
    the submit test above); here: what goes where, and the file's mode."""
    from hyperspark.ops.targets.local import spark_submit
    from hyperspark.ops.util import secrets

    argv = spark_submit.argv("spark://127.0.0.1:7077", {"spark.ui.port": "4040", S3A_CONF: TOKEN,
                                                         "spark.hadoop.x.uri": f"hdfs://u:{TOKEN}@nn:8020/"},
                             tmp_path / "tune.py", ["spec.yaml"])
    try:
        assert TOKEN not in " ".join(argv) and "spark.ui.port=4040" in argv
        props = Path(argv[argv.index("--properties-file") + 1])
        assert stat.S_IMODE(os.stat(props).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(props.parent).st_mode) == 0o700
        assert props.read_text().count(TOKEN) == 2
        # Java's own properties parser reads the values back as given
        code = ("import java.io.*; import java.util.*; class P { public static void main(String[] a) throws Exception "
                "{ Properties p = new Properties(); p.load(new FileReader(a[0])); System.out.print(p.getProperty(a[1])); } }")
        java = Path(tmp_path / "P.java")
        java.write_text(code)
        got = subprocess.run(["java", str(java), str(props), "spark.hadoop.x.uri"], capture_output=True, text=True,
                             timeout=60)
        if got.returncode == 0:
            assert got.stdout == f"hdfs://u:{TOKEN}@nn:8020/"
    finally:
        secrets.remove_properties(argv)
    assert not props.exists() and not props.parent.exists()


def test_secret_set_values_reach_the_driver_in_its_environment_not_its_argv(tmp_path) -> None:
    """A real child process started the way a local cold driver is (``run_driver``): a ``--set`` value that
    may carry a secret (``--mlflow http://user:pw@...`` becomes one) is not in its argv; the job's command line
    reads it back from the environment."""
    from hyperspark.ops.targets.local.spark_submit import run_driver
    from hyperspark.ops.targets.request import DriverOutput

    probe = ("import json, sys; from hyperspark.job.redact import secret_overrides; "
             "print(json.dumps({'argv': sys.argv, 'sets': secret_overrides()}))")
    lines: list[str] = []
    log = tmp_path / "driver.log"
    with log.open("w") as fh:
        code = run_driver([sys.executable, "-c", probe, "--set", "cv_folds=3",
                           "--set", f"tracking.mlflow.uri=http://bob:{TOKEN}@mlflow:5000"],
                          dict(os.environ), DriverOutput(fh, lines.append))
    assert code == 0
    seen = json.loads(lines[-1])
    assert TOKEN not in " ".join(seen["argv"]) and "cv_folds=3" in seen["argv"]
    assert seen["sets"] == [f"tracking.mlflow.uri=http://bob:{TOKEN}@mlflow:5000"]
    assert TOKEN not in log.read_text()  # the log has the line the driver printed, redacted
