"""THE submit path, shared by every target.

``Target.submit`` calls :func:`submit`, which owns everything about a run except where the driver
process lives:

* the run id (the job's one format and one rule: :func:`~hyperspark.job.protocol.new_run_id`,
  :func:`~hyperspark.job.protocol.run_id_problem`);
* the job's command line (:meth:`DriverRequest.job_args`, built by the job's :class:`JobArgs`);
* streaming each driver line to the log file and to the caller's sink (:class:`DriverOutput`);
* parsing the job's ``HYPERSPARK_RESULT`` and ``hyperspark: error:`` lines (the job's protocol);
* recording the run in ``runs.json``, exactly once;
* reading ``summary.json`` back as a typed :class:`RunSummary`;
* building the :class:`SubmitResult`.

A target supplies only ``launch_driver(request, output) -> exit code`` (a local subprocess,
``docker exec`` in the tools container, a Kubernetes Job), optionally ``launch_warm`` (a driver that
is already running, where the target has one: ``supports_warm``), and ``read_text(uri)`` for its storage.

This module never imports :mod:`.base`: it sees a target as the small :class:`Launcher` protocol, so the
interface (``base``) may call the submit path without an import circle.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol

from hyperspark.job.protocol import RunSummary, new_run_id, run_id_problem

from hyperspark.ops import gpus
from hyperspark.ops.model import ClusterStatus, LineSink, OpsError, SubmitResult
from hyperspark.ops.state import StateDir
from hyperspark.ops.targets.request import DriverOutput, DriverRequest
from hyperspark.ops.util.files import write_atomic


class Launcher(Protocol):
    """What the submit path needs of a target (every :class:`~hyperspark.ops.targets.base.Target` is one)."""

    state: StateDir
    supports_warm: bool

    def before_submit(self, request: DriverRequest) -> None: ...

    def launch_warm(self, request: DriverRequest, output: DriverOutput) -> int | None: ...

    def launch_driver(self, request: DriverRequest, output: DriverOutput) -> int: ...

    def read_text(self, uri: str) -> str: ...

    def status(self) -> ClusterStatus: ...


def submit(target: Launcher, spec_path: Path, run_id: str | None = None, resume: bool = False,
           conf: dict[str, str] | None = None, on_line: LineSink | None = None,
           overrides: list[str] | None = None, packages: list[Path] | None = None,
           cold: bool = False, force: bool = False) -> SubmitResult:
    """Run the job on ``target`` and return its typed result (see the module docstring)."""
    spec_path = Path(spec_path)
    if not spec_path.is_file():
        raise OpsError(f"no such spec file: {spec_path}")
    if run_id is not None and run_id_problem(run_id):
        raise OpsError(f"--run-id: {run_id_problem(run_id)}")
    request = DriverRequest(spec_path, run_id or new_run_id(spec_name(spec_path)), resume, dict(conf or {}), list(overrides or []),
                            [Path(p) for p in packages or []], cold, force)
    target.before_submit(request)  # e.g. NoClusterError, before any log is written
    request.conf.update(_gpu_conf(target, request))
    state = target.state
    # the launch is recorded while the driver starts: the fingerprint validates the spec (importing the
    # user's model or objective, a second or two) and nothing reads the record before the driver can run
    failed: list[BaseException] = []

    def record_launch() -> None:
        try:
            state.record_launch(request.run_id, spec_fingerprint(spec_path, request.overrides),
                                str(spec_path.resolve()))
        except BaseException as e:  # noqa: BLE001 - raised below, in the caller's thread
            failed.append(e)

    record = threading.Thread(target=record_launch, name="record-launch", daemon=True)
    record.start()
    started = time.monotonic()
    try:
        code, output, warm = _launch(target, request, on_line)
    finally:
        record.join()
    if failed:
        raise failed[0]
    seconds = time.monotonic() - started
    result = output.result
    output_uri = result.output_uri if result is not None else ""
    summary = None
    if code == 0 and result is not None:
        state.record_run(request.run_id, output_uri)
        summary = read_summary(target, output_uri)
    return SubmitResult(run_id=request.run_id, output_uri=output_uri, exit_code=code, seconds=seconds,
                        summary=summary, result=result, error=output.error, launched_at=output.launched_at,
                        warm=warm)


def _launch(target: Launcher, request: DriverRequest, on_line: LineSink | None) -> tuple[int, DriverOutput, bool]:
    """Run the driver (a warm one where the target keeps one and it can take the run, else a fresh one),
    every line teed to ``logs/driver-<run id>.log`` (a resumed run's later attempts: ``driver-<run id>.2.log``,
    ``.3``...: a failed attempt's log is kept); ``logs driver`` then shows this latest attempt. The flag: the
    warm driver ran it."""
    state = target.state
    state.ensure()
    state.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = attempt_log(state.logs_dir, request.run_id)
    try:
        with log_path.open("w") as log:
            output = DriverOutput(log, on_line)
            code = target.launch_warm(request, output) if target.supports_warm else None
            warm = code is not None
            if code is None:  # no warm driver, or one that cannot take this run (or --cold)
                code = target.launch_driver(request, output)
            output.flush()
    finally:
        if log_path.exists():
            write_atomic(state.log_file("driver"), log_path.read_text(errors="replace"))
    return code, output, warm


def attempt_log(logs_dir: Path, run_id: str) -> Path:
    """The first free ``driver-<run id>[.N].log``: every attempt of a run keeps its own log."""
    path, n = logs_dir / f"driver-{run_id}.log", 1
    while path.exists():
        n += 1
        path = logs_dir / f"driver-{run_id}.{n}.log"
    return path


def _gpu_conf(target: Launcher, request: DriverRequest) -> dict[str, str]:
    """Trials asking for GPUs need executors that hold some (:func:`hyperspark.ops.gpus.submit_conf`):
    the master says which workers advertise how many. Only ``resources`` is read here: the rest of the spec
    (an objective that only the executors' packages can import, say) is the job's to validate. Nothing for
    a spec the job will refuse anyway."""
    from hyperspark.job.spec import Resources, apply_overrides, read_spec_data

    try:
        data = apply_overrides(read_spec_data(request.spec_path), list(request.overrides))
        resources = Resources.model_validate(data.get("resources") or {})
    except Exception:  # noqa: BLE001 - the job validates and reports the spec itself, in one line
        return {}
    if not resources.gpus:
        return {}
    try:
        workers = target.status().workers
    except OpsError:
        workers = None  # a master that does not answer: the job says so itself
    return gpus.submit_conf(resources.gpus, request.conf, workers)


def spec_fingerprint(spec_path: Path, overrides: list[str] | None = None) -> str:
    """What decides a run's trials (the job's own fingerprint), to find the latest run of a spec."""
    from hyperspark.job.spec import load_spec

    try:
        return load_spec(spec_path, list(overrides or []) or None).fingerprint()
    except Exception:  # noqa: BLE001 - the job validates and reports the spec itself
        return ""


def read_summary(target: Launcher, output_uri: str) -> RunSummary | None:
    """``<output_uri>/summary.json`` as a RunSummary; None when it cannot be read or is not one."""
    try:
        return RunSummary.model_validate_json(target.read_text(output_uri.rstrip("/") + "/summary.json"))
    except Exception:  # noqa: BLE001 - the RESULT line still carries the essentials
        return None


def spec_name(spec_path: Path) -> str | None:
    """The spec's ``name:`` for the run id (``<name>-YYYYmmdd-HHMMSS-xxxx``, the job's one format);
    None when the file does not say (the job reports a bad spec itself, in one line)."""
    import yaml

    from hyperspark.job import yaml_load  # the one loader: an alias bomb is refused here too, not expanded

    try:
        data = yaml_load.load(spec_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None
