"""CliRunner tests of every command: exit codes, the exact one-line error texts, --help.

None of these starts a JVM: each stops at a usage error, a missing cluster, or
a check that runs before anything is started.
"""
from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hyperspark.ops.cli import cli
from hyperspark.job.protocol import TrialResult

from hyperspark.ops.render import rank_trials
from hyperspark.ops.util.java import parse_java_major
from tests.paths import REPO

EXAMPLE = REPO / "examples" / "breast_cancer_sklearn.yaml"
DATA = Path(__file__).parent / "data"
NO_CLUSTER = "Error: no local cluster is running: run `hyperspark up` first"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Invoke the CLI against a fresh state dir; HDFS off so nothing depends on HADOOP_HOME."""
    for var in ("HYPERSPARK_TARGET", "HADOOP_HOME", "HYPERSPARK_STATE_DIR"):
        monkeypatch.delenv(var, raising=False)
    state = tmp_path / "state"

    def invoke(*args: str, env: dict | None = None):
        runner = CliRunner()
        return runner.invoke(
            cli, ["--state-dir", str(state), *args], env=env, catch_exceptions=False, prog_name="hyperspark"
        )

    invoke.state = state  # type: ignore[attr-defined]
    return invoke


def only_error_line(result) -> str:
    """The output must be exactly one line (no traceback, no usage block); return it."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


# -- help -----------------------------------------------------------------------------
@pytest.mark.parametrize("command", sorted(cli.commands))
def test_help_on_every_command(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"], prog_name="hyperspark")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: hyperspark {command} ")
    assert cli.commands[command].help.split()[0] in result.output


def test_every_issue_command_is_registered() -> None:
    wanted = {"up", "down", "status", "scale", "upload", "submit", "results", "logs", "doctor", "demo", "bench"}
    assert wanted <= set(cli.commands)


def test_help_does_not_import_heavy_modules() -> None:
    import subprocess

    code = (
        "import sys; from click.testing import CliRunner; from hyperspark.ops.cli import cli;"
        "CliRunner().invoke(cli, ['--help']);"
        "print(sorted(m for m in ('pyspark','docker','kubernetes','matplotlib','sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- worker counts ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, fragment",
    [
        (["up", "--workers", "0"], "Invalid value for '-w' / '--workers': 0 is not in the range x>=1."),
        (["up", "--workers", "two"], "'two' is not a valid integer"),
        (["up", "--worker-cores", "0"], "0 is not in the range x>=1"),
        (["up", "--worker-memory", "lots"], "'lots' is not a memory size like 512m or 2g"),
        (["scale", "0"], "Invalid value for 'N': 0 is not in the range x>=1."),
        (["scale", "--", "-3"], "-3 is not in the range x>=1"),
        (["scale", "1.5"], "'1.5' is not a valid integer"),
        (["scale"], "Missing argument 'N'"),
        (["scale", "99"], "N must be at most 16 for the local target"),
        (["up", "--master-port", "70000"], "70000 is not in the range 1<=x<=65535"),
        (["demo", "--workers", "0"], "0 is not in the range x>=1"),
        (["demo", "--bench-repeats", "0"], "0 is not in the range x>=1"),
        (["bench", "--workers", "0,1"], "worker counts must be integers >= 1"),
        (["bench", "--workers", "1,x"], "'1,x' is not a comma-separated list of integers"),
        (["bench", "--workers", ""], "worker counts must be integers >= 1"),
        (["bench", "--repeat", "0"], "0 is not in the range x>=1"),
        (["bench", "--workers", "1,99"], "worker counts must be at most 16 for local"),
        (["submit", str(EXAMPLE), "--set", "novalue"], "'novalue' is not KEY=VALUE"),
        (["submit", str(EXAMPLE), "--run-id", "../x"], "'../x': use letters, digits"),
        (["upload", "/no/such/file.csv"], "File '/no/such/file.csv' does not exist."),
        (["submit", "/no/such/spec.yaml"], "File '/no/such/spec.yaml' does not exist."),
    ],
)
def test_usage_errors_are_one_line_exit_2(run, args: list[str], fragment: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    line = only_error_line(result)
    assert line.startswith("Error: ")
    assert fragment in line


# -- no cluster -----------------------------------------------------------------------
@pytest.mark.parametrize("args", [["status"], ["scale", "2"], ["status", "--json"]])
def test_commands_needing_a_cluster_say_run_up_first(run, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 1
    assert only_error_line(result) == NO_CLUSTER


def test_resume_without_run_id_and_no_earlier_run_is_one_line(run) -> None:
    result = run("submit", str(EXAMPLE), "--resume")
    assert result.exit_code == 1
    line = only_error_line(result)
    assert line.startswith("Error: no earlier run of ") and "give --run-id RUN_ID" in line


def test_resume_without_run_id_picks_the_latest_run_of_the_same_spec(tmp_path) -> None:
    from hyperspark.ops.state import StateDir
    from hyperspark.ops.targets.submit import spec_fingerprint

    st = StateDir(tmp_path)
    fp = spec_fingerprint(EXAMPLE)
    other = spec_fingerprint(EXAMPLE, ["cv_folds=5"])
    assert fp and other and fp != other
    st.record_launch("old", fp, str(EXAMPLE))
    st.record_launch("other-spec", other, str(EXAMPLE))
    time.sleep(0.01)
    st.record_launch("new", fp, str(EXAMPLE))
    st.record_launch("old", fp, str(EXAMPLE))  # resuming an old run does not make it the newest
    assert st.latest_launch(fp) == "new" and st.latest_launch(other) == "other-spec"
    assert st.latest_launch("nope") is None


def test_unexpected_errors_are_one_line_with_a_log(run, monkeypatch, tmp_path) -> None:
    from hyperspark.ops import cli as cli_mod

    monkeypatch.setenv("HYPERSPARK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("HYPERSPARK_DEBUG", raising=False)

    def boom(*_a, **_k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli_mod.Context, "target", boom)
    with pytest.raises(SystemExit) as e:
        cli_mod.cli.main(["status"], prog_name="hyperspark")
    assert e.value.code == 1
    logs = list((tmp_path / "state" / "crash").glob("hyperspark-crash-*.log"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text() and "ZeroDivisionError" in logs[0].read_text()


def test_unexpected_error_output(capsys, monkeypatch, tmp_path) -> None:
    from hyperspark.ops import cli as cli_mod

    monkeypatch.setenv("HYPERSPARK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(cli_mod.Context, "target", lambda *_a: 1 / 0)
    for debug in (False, True):
        with pytest.raises(SystemExit):
            cli_mod.cli.main(["--debug", "status"] if debug else ["status"], prog_name="hyperspark")
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        if debug:
            assert "Traceback" in err and lines[-1] == "Error: unexpected ZeroDivisionError: division by zero"
        else:
            assert len(lines) == 1 and "Traceback" not in err
            assert lines[0].startswith("Error: unexpected ZeroDivisionError: division by zero (traceback in ")
            assert lines[0].endswith("; rerun with --debug to see it here)")


def test_submit_without_cluster_validates_then_says_run_up_first(run) -> None:
    result = run("submit", str(EXAMPLE))
    assert result.exit_code == 1
    assert only_error_line(result) == NO_CLUSTER


def test_down_with_nothing_running_is_fine(run) -> None:
    result = run("down")
    assert result.exit_code == 0
    assert "nothing was running" in result.output
    result = run("down", "--json")
    assert json.loads(result.output) == {"stopped": [], "purged": False}


def test_doctor_without_cluster_fails_the_workers_check(run) -> None:
    result = run("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert result.exit_code == 1
    assert checks["java"]["ok"] is True
    assert checks["python"]["ok"] is True
    assert checks["workers"]["ok"] is False
    assert checks["storage"]["ok"] is True
    assert result.stderr.strip() == "Error: 1 check(s) failed: workers"


# -- targets --------------------------------------------------------------------------
def test_unknown_target(run) -> None:
    result = run("--target", "nosuch", "status")
    assert result.exit_code == 1
    assert only_error_line(result) == "Error: unknown target 'nosuch': choose one of local, compose, k8s"


def test_unknown_target_from_environment(run) -> None:
    result = run("status", env={"HYPERSPARK_TARGET": "yarn"})
    assert result.exit_code == 1
    assert only_error_line(result) == "Error: unknown target 'yarn': choose one of local, compose, k8s"


# -- up: checks before anything starts -----------------------------------------------------
def test_up_refuses_a_port_in_use_and_names_it(run) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = run("up", "--workers", "1", "--no-hdfs", "--master-port", str(port))
    assert result.exit_code == 1
    assert only_error_line(result) == (
        f"Error: port {port} (master RPC) is in use: stop what holds it or choose another port"
    )
    assert not (run.state / "pids" / "master.pid").exists()


def test_up_without_java_says_so(run, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = run("up", "--no-hdfs", env={"PATH": str(empty), "JAVA_HOME": None})
    assert result.exit_code == 1
    assert only_error_line(result) == "Error: java not found: install Java 17+ or set JAVA_HOME"


@pytest.mark.parametrize(
    "text, major",
    [('openjdk version "17.0.15" 2025-04-15', 17), ('java version "1.8.0_392"', 8),
     ('openjdk version "21" 2023-09-19', 21), ("garbage", None)],
)
def test_java_version_parsing(text: str, major: int | None) -> None:
    assert parse_java_major(text) == major


# -- spec, upload, results, logs ---------------------------------------------------------
def test_invalid_spec_is_one_line_naming_the_key(run, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(EXAMPLE.read_text().replace("cv_folds: 3", "cv_folds: 1"))
    result = run("submit", str(spec))
    assert result.exit_code == 2
    line = only_error_line(result)
    assert line.startswith("Error: ") and "cv_folds" in line


def test_invalid_override_is_one_line(run) -> None:
    result = run("submit", str(EXAMPLE), "--set", "metric=bogus")
    assert result.exit_code == 2
    assert "metric" in only_error_line(result)


def test_upload_refuses_to_overwrite_without_force(run, tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("a,b\n1,2\n")
    first = run("upload", str(src), "data/x.csv", "--json")
    assert first.exit_code == 0, first.output
    dest = json.loads(first.output)["dest"]
    assert dest.endswith("data/x.csv")
    again = run("upload", str(src), "data/x.csv")
    assert again.exit_code == 1
    line = only_error_line(again)
    assert line.startswith("Error: ") and "exists" in line and "--force" in line
    src.write_text("a,b\n3,4\n")
    forced = run("upload", str(src), "data/x.csv", "--force")
    assert forced.exit_code == 0, forced.output
    assert (run.state / "storage" / "data" / "x.csv").read_text() == "a,b\n3,4\n"


def test_results_of_unknown_run(run) -> None:
    result = run("results", "nope")
    assert result.exit_code == 1
    assert only_error_line(result) == "Error: unknown run id 'nope' (recent runs: none yet)"


def test_results_sorted_with_best_marked(run, tmp_path: Path) -> None:
    out = tmp_path / "run1"
    out.mkdir()
    trials = [
        {"trial_id": "t1", "params": {"d": 3}, "mean": 0.91, "std": 0.01, "status": "ok"},
        {"trial_id": "t2", "params": {"d": 6}, "mean": 0.97, "std": 0.01, "status": "ok"},
        {"trial_id": "t3", "params": {"d": 9}, "mean": None, "status": "error"},
        {"trial_id": "t4", "params": {"d": 12}, "mean": 0.95, "std": 0.02, "status": "ok"},
    ]
    (out / "trials.jsonl").write_text("".join(json.dumps(t) + "\n" for t in trials))
    summary = json.loads((DATA / "summary.json").read_text())
    summary.update(metric="roc_auc", best_params={"d": 6})
    (out / "summary.json").write_text(json.dumps(summary))
    result = run("results", out.as_uri(), "--json")
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.output)["trials"]
    assert [t["trial_id"] for t in ranked] == ["t2", "t4", "t1", "t3"]
    assert [t["best"] for t in ranked] == [True, False, False, False]
    table = run("results", out.as_uri())
    assert table.exit_code == 0
    assert "t2" in table.output and "*" in table.output


def test_rank_trials_lower_is_better_for_rmse() -> None:
    trials = [TrialResult(trial_id="a", params={}, status="ok", mean=2.0),
              TrialResult(trial_id="b", params={"x": 1}, status="ok", mean=1.0)]
    ranked = rank_trials(trials, metric="rmse")
    assert [t.trial_id for t in ranked] == ["b", "a"]
    assert ranked[0].best is True


def test_logs_of_unknown_component(run) -> None:
    result = run("logs", "worker-9")
    assert result.exit_code == 1
    assert only_error_line(result).startswith("Error: no log for 'worker-9': choose one of master")


def test_bench_without_bench_module(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hyperspark.ops.bench", None)
    result = run("bench")
    assert result.exit_code == 1
    assert only_error_line(result).startswith("Error: bench is not available")


def test_bench_without_cluster_says_run_up_first(run) -> None:
    result = run("bench", "--repeats", "1")
    assert result.exit_code == 1
    assert only_error_line(result) == NO_CLUSTER


def test_bench_with_invalid_spec_names_the_key(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("cv_folds: 3", "cv_folds: 1"))
    result = run("bench", "--spec", str(bad), "--repeat", "1")
    assert result.exit_code == 1
    assert only_error_line(result) == "Error: invalid spec: cv_folds: must be at least 2 (got 1)"
