"""What one run asks of a target, and where the driver's output goes: the types every target's
``launch_driver`` receives. No target logic and no submit logic here (see :mod:`.submit`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hyperspark.job.protocol import ERROR_PREFIX, FAILED_PREFIX, RESULT_PREFIX, JobArgs, ResultLine
from hyperspark.job.redact import redact_text

from hyperspark.ops.model import LineSink

#: the job's bad-input (exit 2) and failure (exit 1) prefixes, without their trailing blank
JOB_ERROR_PREFIXES = (ERROR_PREFIX.rstrip(), FAILED_PREFIX.rstrip())
#: lines of the job's protocol (progress, RESULT): JSON the job wrote, logged as they are
_PROTOCOL_PREFIXES = ("HYPERSPARK_",)


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
    force: bool = False  # start the run over when its dir was made with other data or spec (``submit --force``)

    def job(self, spec: str, packages: list[str] | None = None) -> JobArgs:
        """The job's command line (:class:`JobArgs`, the one builder) with ``spec`` and ``packages`` as the
        driver sees them (``packages`` default: these host paths)."""
        return JobArgs(spec=spec, run_id=self.run_id, resume=self.resume, overrides=list(self.overrides),
                       packages=packages if packages is not None else [str(p) for p in self.packages],
                       force=self.force)

    def job_args(self, spec: str, packages: list[str] | None = None) -> list[str]:
        """Arguments after ``tune.py``: ``SPEC --run-id ID [--resume] [--set k=v]... [--package ZIP]...``."""
        return self.job(spec, packages).argv()

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
        self.launched_at: float | None = None  # epoch seconds the driver process was started (when known)

    def note(self, text: str) -> None:
        """A line for the log only (e.g. the command that was run), secrets hidden (``***``)."""
        self._log.write(redact_text(text.rstrip("\n")) + "\n")
        self._log.flush()

    def __call__(self, line: str) -> None:
        """One complete line of driver output (a trailing newline is ignored); the log gets it with secrets
        hidden (the job's own protocol lines are JSON the kit wrote: kept as they are)."""
        line = line.rstrip("\n")
        self._log.write((line if line.startswith(_PROTOCOL_PREFIXES) else redact_text(line)) + "\n")
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
