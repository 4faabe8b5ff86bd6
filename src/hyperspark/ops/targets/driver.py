"""THE submit path, shared by every target.

``Target.submit`` calls :func:`submit`, which owns everything about a run except where the driver
process lives:

* the run id (one format for every target: :func:`new_run_id`);
* the job's command-line arguments (:meth:`DriverRequest.job_args`);
* streaming each driver line to the log file and to the caller's sink (:class:`DriverOutput`);
* parsing the job's ``HYPERSPARK_RESULT`` and ``hyperspark: error:`` lines (the job's protocol);
* recording the run in ``runs.json``, exactly once;
* reading ``summary.json`` back as a typed :class:`RunSummary`;
* building the :class:`SubmitResult`.

A target supplies only ``launch_driver(request, output) -> exit code`` (a local subprocess,
``docker exec`` in the tools container, a Kubernetes Job) and ``read_text(uri)`` for its storage.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from hyperspark.job.protocol import ERROR_PREFIX, FAILED_PREFIX, RESULT_PREFIX, ResultLine, RunSummary

from hyperspark.ops.model import LineSink, OpsError, SubmitResult
from hyperspark.ops.util.files import write_atomic

if TYPE_CHECKING:
    from hyperspark.ops.targets.base import Target

#: the job's bad-input (exit 2) and failure (exit 1) prefixes, without their trailing blank
JOB_ERROR_PREFIXES = (ERROR_PREFIX.rstrip(), FAILED_PREFIX.rstrip())


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS-xxxx``: sortable by start time, unique enough for one user's runs."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@dataclass
class DriverRequest:
    """What to run: the same on every target; the target decides where."""

    spec_path: Path
    run_id: str
    resume: bool = False
    conf: dict[str, str] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    packages: list[Path] = field(default_factory=list)  # zips of user code (``submit --package``)
    cold: bool = False  # a fresh driver even when the target keeps a warm one (``submit --cold``)

    def job_args(self, spec: str, packages: list[str] | None = None) -> list[str]:
        """Arguments after ``tune.py``: ``SPEC --run-id ID [--resume] [--set k=v]... [--package ZIP]...``
        (``packages``: the zips' paths as the driver sees them; default: these host paths)."""
        args = [spec, "--run-id", self.run_id]
        if self.resume:
            args.append("--resume")
        for item in self.overrides:
            args += ["--set", item]
        for zp in (packages if packages is not None else [str(p) for p in self.packages]):
            args += ["--package", zp]
        return args

    def conf_args(self) -> list[str]:
        return [x for k, v in self.conf.items() for x in ("--conf", f"{k}={v}")]


class DriverOutput:
    """The sink a target feeds driver output into: tee to the log, parse the protocol, pass on."""

    def __init__(self, log: IO[str], on_line: LineSink | None) -> None:
        self._log = log
        self._on_line = on_line
        self._partial = ""
        self.result: ResultLine | None = None
        self.error: str | None = None

    def note(self, text: str) -> None:
        """A line for the log only (e.g. the command that was run)."""
        self._log.write(text.rstrip("\n") + "\n")
        self._log.flush()

    def __call__(self, line: str) -> None:
        """One complete line of driver output (a trailing newline is ignored)."""
        line = line.rstrip("\n")
        self._log.write(line + "\n")
        self._log.flush()
        if line.startswith(RESULT_PREFIX):
            try:
                self.result = ResultLine.model_validate_json(line[len(RESULT_PREFIX):])
            except ValueError:
                self.result = None
        elif line.startswith(JOB_ERROR_PREFIXES):
            prefix = next(p for p in JOB_ERROR_PREFIXES if line.startswith(p))
            self.error = line[len(prefix):].strip()
        if self._on_line is not None:
            self._on_line(line)

    def feed(self, text: str) -> None:
        """Raw output in arbitrary chunks (docker exec, pod logs): split into lines."""
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self(line)

    def flush(self) -> None:
        if self._partial:
            line, self._partial = self._partial, ""
            self(line)


def submit(target: Target, spec_path: Path, run_id: str | None = None, resume: bool = False,
           conf: dict[str, str] | None = None, on_line: LineSink | None = None,
           overrides: list[str] | None = None, packages: list[Path] | None = None,
           cold: bool = False) -> SubmitResult:
    """Run the job on ``target`` and return its typed result (see the module docstring)."""
    spec_path = Path(spec_path)
    if not spec_path.is_file():
        raise OpsError(f"no such spec file: {spec_path}")
    request = DriverRequest(spec_path, run_id or new_run_id(), resume, dict(conf or {}), list(overrides or []),
                            [Path(p) for p in packages or []], cold)
    target.before_submit(request)  # e.g. NoClusterError, before any log is written
    state = target.state
    state.record_launch(request.run_id, spec_fingerprint(spec_path, request.overrides), str(spec_path.resolve()))
    state.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = state.logs_dir / f"driver-{request.run_id}.log"
    started = time.monotonic()
    try:
        with log_path.open("w") as log:
            output = DriverOutput(log, on_line)
            code = target.launch_driver(request, output)
            output.flush()
    finally:
        if log_path.exists():  # `logs driver` shows the latest run
            write_atomic(state.log_file("driver"), log_path.read_text(errors="replace"))
    seconds = time.monotonic() - started
    result = output.result
    output_uri = result.output_uri if result is not None else ""
    summary = None
    if code == 0 and result is not None:
        state.record_run(request.run_id, output_uri)
        summary = read_summary(target, output_uri)
    return SubmitResult(run_id=request.run_id, output_uri=output_uri, exit_code=code, seconds=seconds,
                        summary=summary, result=result, error=output.error)


def spec_fingerprint(spec_path: Path, overrides: list[str] | None = None) -> str:
    """What decides a run's trials (the job's own fingerprint), to find the latest run of a spec."""
    from hyperspark.job.spec import load_spec

    try:
        return load_spec(spec_path, list(overrides or []) or None).fingerprint()
    except Exception:  # noqa: BLE001 - the job validates and reports the spec itself
        return ""


def read_summary(target: Target, output_uri: str) -> RunSummary | None:
    """``<output_uri>/summary.json`` as a RunSummary; None when it cannot be read or is not one."""
    try:
        return RunSummary.model_validate_json(target.read_text(output_uri.rstrip("/") + "/summary.json"))
    except Exception:  # noqa: BLE001 - the RESULT line still carries the essentials
        return None
