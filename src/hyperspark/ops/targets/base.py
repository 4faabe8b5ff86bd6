"""The one interface every target (local, compose, k8s, or one from another package) implements.

The CLI only ever talks to a :class:`Target`. A target owns three things: how the Spark
master/workers and HDFS are started and stopped, where cluster storage lives (HDFS or a plain
directory), and where the driver runs so that executors can reach it. ``submit`` itself is shared
(:mod:`hyperspark.ops.targets.submit`): a target only launches the driver and reads its storage.
A target that can keep a warm driver (one long-lived SparkSession) says so with :attr:`Target.supports_warm`
and implements the ``*_warm`` hooks; the submit path then offers each run to :meth:`Target.launch_warm` first.

Results are the dataclasses of :mod:`hyperspark.ops.model`; settings are the target's declared
:attr:`Target.settings_model`, resolved explicit > saved > env > default.
"""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar, Iterable

from hyperspark.ops.model import (
    Check,
    ClusterStatus,
    LineSink,
    OpsError,
    SubmitResult,
    UploadResult,
    WarmDriverStatus,
    check_worker_count,
)
from hyperspark.ops.settings import TargetSettings
from hyperspark.ops.state import StateDir
from hyperspark.ops.targets import submit as submit_path
from hyperspark.ops.targets.request import DriverOutput, DriverRequest


class Target(abc.ABC):
    """One cluster flavour. Registered under the ``hyperspark.targets`` entry-point group."""

    name: ClassVar[str] = "?"

    #: largest worker count this target accepts (``up``/``bench``/``scale`` check it)
    max_workers: ClassVar[int] = 64

    #: the settings this target accepts (CLI options such as ``--master-port`` map to its fields)
    settings_model: ClassVar[type[TargetSettings]] = TargetSettings

    #: whether this target can keep a warm driver (``up --warm``); then it implements the ``*_warm`` hooks
    supports_warm: ClassVar[bool] = False

    def __init__(self, state_dir: Path, **settings: Any) -> None:
        self.state = StateDir(Path(state_dir))
        self._overrides: dict[str, Any] = {}
        self.configure(**settings)

    # -- settings ---------------------------------------------------------
    def configure(self, **settings: Any) -> None:
        """Explicit settings for the next commands (None = keep); unknown ones are refused."""
        self.settings_model.check_explicit(self.name, settings)
        self._overrides.update({k: v for k, v in settings.items() if v is not None})
        self.settings_model.resolve(self._overrides, self.saved_settings())  # validate now, one line
        self._settings_changed()

    def settings(self, prefer_env: bool = False) -> Any:
        """This target's settings model: explicit > saved > environment > default."""
        return self.settings_model.resolve(self._overrides, self.saved_settings(), prefer_env=prefer_env)

    def saved_settings(self) -> dict[str, Any]:
        """Settings of the cluster that runs (from the state dir); none by default."""
        return {}

    def _settings_changed(self) -> None:
        """Hook: drop anything cached from the previous settings."""

    def check_workers(self, workers: int) -> int:
        return check_worker_count(workers, self.name, self.max_workers)

    # -- lifecycle -------------------------------------------------------
    @abc.abstractmethod
    def up(self, workers: int, worker_cores: int = 1, worker_memory: str = "1g") -> ClusterStatus:
        """Start (or bring to ``workers``) and block until the master shows that many ALIVE."""

    @abc.abstractmethod
    def down(self, purge: bool = False) -> list[str]:
        """Stop everything this target started; returns what was stopped. ``purge`` drops data."""

    def purge_plan(self) -> list[str]:
        """What ``down --purge`` deletes, for the CLI to list before it asks (``--yes`` or a TTY answer);
        an OpsError when it would delete nothing of ours. Default: the target's stored data and state."""
        return [f"{self.name} target: stored data (volumes/PVCs) and the saved state in {self.state.root}"]

    @abc.abstractmethod
    def status(self) -> ClusterStatus:
        """Raises NoClusterError when nothing runs."""

    @abc.abstractmethod
    def scale(self, workers: int) -> ClusterStatus:
        """Add or remove workers (idle ones go first); block until the master agrees."""

    # -- data and jobs ---------------------------------------------------
    @abc.abstractmethod
    def upload(self, src: Path, dest: str | None = None, force: bool = False) -> UploadResult:
        """Copy a local file into cluster storage (temp name, rename, verify)."""

    def submit(
        self,
        spec_path: Path,
        run_id: str | None = None,
        resume: bool = False,
        conf: dict[str, str] | None = None,
        on_line: LineSink | None = None,
        overrides: list[str] | None = None,
        packages: list[Path] | None = None,
        cold: bool = False,
        force: bool = False,
    ) -> SubmitResult:
        """Run the tuning job with the driver where executors can reach it (the shared path).

        ``on_line`` receives each line the driver prints; ``overrides`` are ``key=value`` spec
        overrides (``--set``); ``packages`` are zips of user code shipped to the driver and executors
        (``--package``); ``cold`` asks for a fresh driver even where a warm one runs (``--cold``); the
        run is recorded in the state dir's ``runs.json``.
        """
        return submit_path.submit(self, spec_path, run_id=run_id, resume=resume, conf=conf, on_line=on_line,
                                  overrides=overrides, packages=packages, cold=cold, force=force)

    def before_submit(self, request: DriverRequest) -> None:
        """Checks before a run starts (e.g. NoClusterError); nothing is logged yet."""

    @abc.abstractmethod
    def launch_driver(self, request: DriverRequest, output: DriverOutput) -> int:
        """Run the driver, feed every line it prints to ``output``, return its exit code."""

    # -- the warm driver (only where supports_warm) ------------------------
    def require_warm(self) -> None:
        """One line for a target without a warm driver (checked before anything starts)."""
        if not self.supports_warm:
            raise OpsError(f"--warm: a warm driver runs on the local target only, not on {self.name}")

    def start_warm(self) -> WarmDriverStatus:
        """Start the warm driver (or keep the one that runs); block until it serves."""
        self.require_warm()
        raise NotImplementedError  # a target with supports_warm overrides this

    def stop_warm(self) -> bool:
        """Stop the warm driver (the cluster keeps running); whether one was stopped."""
        self.require_warm()
        raise NotImplementedError  # a target with supports_warm overrides this

    def launch_warm(self, request: DriverRequest, output: DriverOutput) -> int | None:
        """Run ``request`` on the warm driver, every line to ``output``; its exit code, or None when no warm
        driver can take it (none runs, ``--cold``, or the run needs a fresh session): then
        :meth:`launch_driver` runs it."""
        return None

    @abc.abstractmethod
    def read_text(self, uri: str) -> str:
        """Read a small text file (summary.json, trials.jsonl) from cluster storage."""

    @abc.abstractmethod
    def logs(self, component: str) -> str:
        """Log text of ``master``, ``worker-N``, ``driver`` (last run), ``namenode``..."""

    @abc.abstractmethod
    def doctor(self) -> list[Check]:
        """Readiness checks, one verdict each (names: :class:`hyperspark.ops.model.CheckName`)."""

    def components(self) -> Iterable[str]:
        return ["master", "driver"]

    def wait_idle(self, timeout: float = 300.0) -> None:
        """Before timed work (``bench``): wait until the target's own background work (e.g. the local
        target's one-off JVM archive dump) is done, so it does not share the cores with what is measured."""
