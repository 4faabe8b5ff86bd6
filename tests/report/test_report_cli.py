"""``hyperspark report`` and the report path printed by ``hyperspark submit`` (CliRunner, no JVM)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hyperspark.ops.cli import Context, cli
from hyperspark.job.protocol import RunSummary
from hyperspark.ops.model import SubmitResult
from tests.paths import REPO
from tests.report.conftest import make_rows, make_summary

EXAMPLE = REPO / "examples" / "breast_cancer_sklearn.yaml"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for var in ("HYPERSPARK_TARGET", "HADOOP_HOME", "HYPERSPARK_STATE_DIR"):
        monkeypatch.delenv(var, raising=False)
    state = tmp_path / "state"

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["--state-dir", str(state), *args], catch_exceptions=False,
                                  prog_name="hyperspark")

    invoke.state = state  # type: ignore[attr-defined]
    return invoke


def write_run(run_dir: Path, with_summary: bool = True) -> None:
    rows = make_rows({"n_estimators": [25, 50], "max_depth": [3, 6, None]})
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "trials.jsonl").write_text("".join(r.to_line() + "\n" for r in rows))
    if with_summary:
        (run_dir / "summary.json").write_text(make_summary(rows).model_dump_json())


def test_report_of_an_output_uri_goes_beside_the_run(run, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "run-a"
    write_run(run_dir)
    result = run("report", run_dir.as_uri())
    assert result.exit_code == 0, result.output
    html = run_dir / "report" / "report.html"
    assert result.output.strip().splitlines()[-1] == f"report: {html}"
    assert html.exists() and (run_dir / "report" / "history.png").exists()


def test_report_json_and_out(run, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "run-a"
    write_run(run_dir)
    out = tmp_path / "elsewhere"
    result = run("report", run_dir.as_uri(), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["html"] == str(out / "report.html")
    assert set(data["images"]) == {"history", "slices", "importance", "timeline"}
    assert data["summary"]["run_id"] == "run-a" and data["rows"] == 6
    assert data["summary"]["cv_score"] == max(h["score"] for h in data["history"])
    assert not (run_dir / "report").exists()


def test_report_reads_the_runs_spec_for_its_axes(run, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "run-a"
    write_run(run_dir)
    space = {"n_estimators": {"int": [10, 200]}, "max_depth": [3, 6, None]}
    (run_dir / "spec.json").write_text(json.dumps({"fingerprint": "f", "spec": {"space": space}}))
    result = run("report", run_dir.as_uri(), "--json")
    assert result.exit_code == 0, result.output
    params = json.loads(result.output)["params"]
    assert {k: (v["kind"], v["source"]) for k, v in params.items()} == {
        "n_estimators": ("int", "spec"), "max_depth": ("categorical", "spec")}


def test_report_of_a_running_run_without_summary(run, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "run-b"
    write_run(run_dir, with_summary=False)
    result = run("report", run_dir.as_uri(), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"] is None


def test_report_of_a_known_run_id(run, tmp_path: Path) -> None:
    from hyperspark.ops.state import StateDir

    run_dir = tmp_path / "runs" / "run-a"
    write_run(run_dir)
    StateDir(run.state).record_run("run-a", run_dir.as_uri())
    result = run("report", "run-a")
    assert result.exit_code == 0, result.output
    assert (run_dir / "report" / "report.html").exists()


@pytest.mark.parametrize("setup, message", [
    (None, "Error: unknown run id 'nope' (recent runs: none yet)"),
    ("missing", "Error: no such file: {uri}/trials.jsonl"),
    ("bad", "Error: {uri}/trials.jsonl is not valid trial rows: line 2: "),
    ("bad-summary", "Error: {uri}/summary.json is not a run summary: "),
])
def test_report_errors_are_one_line(run, tmp_path: Path, setup: str | None, message: str) -> None:
    run_dir = tmp_path / "runs" / "r"
    if setup is None:
        result = run("report", "nope")
    else:
        if setup == "bad":
            write_run(run_dir)
            (run_dir / "trials.jsonl").write_text('{"trial_id": "a", "params": {}, "status": "ok"}\n{not json\n')
        elif setup == "bad-summary":
            write_run(run_dir)
            (run_dir / "summary.json").write_text('{"run_id": "r"}')
        result = run("report", run_dir.as_uri())
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith(message.format(uri=run_dir.as_uri())), lines[0]


class FakeTarget:
    """Stands in for a cluster: submit 'runs' by writing a finished run's files (the hook under test is
    what the CLI does AFTER a successful submit)."""

    name = "local"

    def __init__(self, out: str) -> None:
        self.out = out

    def submit(self, spec, run_id=None, resume=False, conf=None, on_line=None, overrides=None, packages=None,
               cold=False, force=False):
        run_dir = Path(self.out.removeprefix("file://")) / "run-a" if self.out.startswith("file://") else None
        if run_dir is not None:
            write_run(run_dir)
        summary: RunSummary = make_summary(make_rows({"n_estimators": [25]}))
        return SubmitResult(run_id="run-a", output_uri=f"{self.out}/run-a", exit_code=0, seconds=1.0,
                            summary=summary)

    def read_text(self, uri: str) -> str:
        return Path(uri.removeprefix("file://")).read_text()


def test_submit_prints_the_report_path(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = FakeTarget((tmp_path / "runs").as_uri())
    monkeypatch.setattr(Context, "target", lambda self: target)
    result = run("submit", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    html = tmp_path / "runs" / "run-a" / "report" / "report.html"
    assert result.output.strip().splitlines()[-1] == f"report: {html}"
    assert html.exists()
    as_json = run("submit", str(EXAMPLE), "--json")
    assert json.loads(as_json.stdout)["report"] == str(html)


def test_submit_survives_a_report_failure(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = FakeTarget("hdfs://nn:8020/runs")  # writes nothing: the report cannot read trials.jsonl
    monkeypatch.setattr(Context, "target", lambda self: target)
    t0 = time.monotonic()
    result = run("submit", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert "warning: report not written: cannot read hdfs://nn:8020/runs/run-a/trials.jsonl" in result.output
    assert "report: " not in result.output.replace("report not written", "")
    assert time.monotonic() - t0 < 30
