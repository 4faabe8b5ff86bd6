"""Runs as the ``hyperspark`` command sees them, over any Target: a spec checked before submit, ``--package``
dirs zipped, the run to resume, a run id resolved to its output, a run's ranked results and its report.

A library, no Click: bad input raises :class:`hyperspark.errors.JobInputError` (the CLI's exit 2, as the
job's), everything else :class:`~hyperspark.ops.model.OpsError` (exit 1), each one line.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hyperspark.errors import JobInputError, SpecError
from hyperspark.job.protocol import RunSummary, TrialResult, one_line
from hyperspark.ops.model import OpsError
from hyperspark.ops.state import StateDir

if TYPE_CHECKING:
    from hyperspark.ops.report import ReportResult
    from hyperspark.ops.targets.base import Target


def validate_spec(spec: Path, overrides: list[str] | None = None) -> None:
    """Validate the spec (with overrides) before any Spark work: SpecError, one line naming the key."""
    try:
        from hyperspark.job.spec import load_spec
    except ImportError as exc:
        raise OpsError(f"the tuning job package is not importable: {one_line(exc)}") from exc
    try:
        load_spec(spec, list(overrides or []) or None)
    except SpecError as exc:
        raise SpecError(one_line(str(exc)) or "invalid spec") from None


def zip_packages(dirs: list[Path], dest: Path) -> list[Path]:
    """``--package DIR``: zipped once (deterministic name), put on this process's path so the spec's
    import paths validate here, and shipped with the job (the job checks executors can import it)."""
    from hyperspark.job.package import prepare, zip_package

    out = []
    for d in dirs:
        try:
            zp = Path(d).resolve(strict=True) if Path(d).is_file() else zip_package(d, dest)
        except OSError as e:  # a symlink loop, a dangling link, an unreadable file: one line naming it
            raise JobInputError(f"--package {d}: cannot read {e.filename or d}: {e.strerror or e}") from None
        prepare(str(zp))
        out.append(zp)
    return out


def latest_run_of(state: StateDir, spec: Path, overrides: list[str], target_name: str) -> str:
    """``submit --resume`` without ``--run-id``: the latest run of the same spec (same fingerprint)."""
    from hyperspark.ops.targets.submit import spec_fingerprint

    run_id = state.latest_launch(spec_fingerprint(spec, overrides))
    if run_id is None:
        raise OpsError(f"no earlier run of {spec} to resume on the {target_name} target; "
                       "give --run-id RUN_ID (see `hyperspark results`)")
    return run_id


def output_of(state: StateDir, run_id_or_uri: str) -> str:
    """A run's output URI: the argument itself when it is a URI, else the one ``submit`` recorded."""
    if "://" in run_id_or_uri:
        return run_id_or_uri
    runs = state.runs()
    if run_id_or_uri not in runs:
        known = ", ".join(sorted(runs)[-5:]) or "none yet"
        raise OpsError(f"unknown run id {run_id_or_uri!r} (recent runs: {known})")
    return runs[run_id_or_uri]


def read_results(target: Target, output_uri: str) -> tuple[list[TrialResult], RunSummary | None]:
    """A run's rows (OpsError when unreadable) and its summary (None while it runs, after a failure, or
    when unreadable)."""
    from hyperspark.ops.report import read_trials
    from hyperspark.ops.targets.submit import read_summary

    return read_trials(target.read_text, output_uri), read_summary(target, output_uri)


def run_report(target: Target, state: StateDir, output_uri: str, out_dir: Path | None = None) -> ReportResult:
    """Read a run's files through the target; write its report (default folder: beside a local run, else
    under the state dir)."""
    from hyperspark.ops.report import build_run_report

    return build_run_report(target.read_text, output_uri, out_dir, state.root)


def report_after_submit(target: Target, state: StateDir, output_uri: str) -> tuple[str | None, str | None]:
    """After a successful submit: (the report's path, None), or (None, why not): a report failure never
    fails the run."""
    try:
        return str(run_report(target, state, output_uri).html), None
    except Exception as exc:  # noqa: BLE001 - a report failure never fails the submit
        return None, one_line(exc)
