"""The local target's cold driver: the ``spark-submit`` command line (driver on loopback, this interpreter
everywhere, event logs for the history server) and running it as a child whose every line goes to the
submit path's :class:`~hyperspark.ops.targets.request.DriverOutput`. The warm driver starts from the same
command line (:mod:`.warm`)."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from hyperspark.job.protocol import LAUNCHED_AT_ENV
from hyperspark.ops.model import OpsError
import hyperspark.ops.targets.local.jvm as jvm
from hyperspark.ops.targets.local.daemons import spark_home
from hyperspark.ops.targets.local.settings import HOST
from hyperspark.ops.targets.request import DriverOutput
from hyperspark.ops.util import secrets
from hyperspark.ops.util.java import java_binary
from hyperspark.ops.util.proc import own_session_dying_with_parent, terminate


def tune_script() -> Path:
    """The job's spark-submit entry point ``jobs/tune.py`` (checkout, or the copy a wheel ships)."""
    from hyperspark.ops import resources

    try:
        import hyperspark.job  # noqa: F401 - tune.py imports it; executors need it installed
    except ImportError as exc:
        raise OpsError(f"the tuning job package is not installed: {exc}") from exc
    path = resources.find("jobs/tune.py")
    if path is None:
        raise OpsError("the job entry point jobs/tune.py is missing")
    return path


def driver_conf(driver_ui_port: int, work_tmp: Path, events_dir: Path) -> dict[str, str]:
    """Every local driver's conf (a submit or the warm driver), before the cluster's storage and the run's own."""
    return {
        "spark.driver.host": HOST,
        "spark.driver.bindAddress": HOST,
        "spark.ui.port": str(driver_ui_port),
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.local.dir": str(work_tmp),
        # executors of a decommissioned worker (scale-down) finish their trials and exit
        "spark.decommission.enabled": "true",
        # executors run this interpreter, which has hyperspark.job: fork workers with the libraries loaded
        "spark.python.daemon.module": "hyperspark.job.daemon",
        # event logs on by default, for the history server (`status` lists its URL)
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": events_dir.as_uri(),
        # faster JVM starts: the class-data archive, C1 for the driver (ops/targets/local/jvm.py)
        **jvm.driver_conf(spark_home(), java_binary()),
    }


def argv(master_url: str, conf: dict[str, str], script: Path, args: list[str]) -> list[str]:
    """``spark-submit --master URL [--properties-file F] --conf k=v... SCRIPT ARGS...``

    Confs that may carry a secret (:mod:`hyperspark.ops.util.secrets`) go in a new 0600 properties file in
    a private (0700) temporary folder, never on the command line; :func:`run_driver` (or whoever starts the
    process) removes it once the driver ran (``secrets.remove_properties``)."""
    plain, hidden = secrets.split_conf(conf)
    out = [str(spark_home() / "bin" / "spark-submit"), "--master", master_url]
    if hidden:
        folder = Path(tempfile.mkdtemp(prefix="hyperspark-conf-"))  # 0700
        out += [secrets.PROPERTIES_FLAG, str(secrets.secret_properties_file(folder, hidden))]
    for k, v in plain.items():
        out += ["--conf", f"{k}={v}"]
    return out + [str(script), *args]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While a driver runs, SIGTERM to the CLI stops the driver too (as Ctrl-C does), not just us."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_driver(argv: list[str], env: dict[str, str], output: DriverOutput) -> int:
    """Run spark-submit in its own process group, every line to ``output``; return its exit code. ``--set``
    values that may carry a secret go to the driver in its environment, not its command line."""
    shown, env = secrets.hide_overrides(argv, env)
    # own process group: on Ctrl-C we stop the JVM AND the Python driver it spawned; and the JVM dies
    # with us (kill -9 of the CLI), so no orphan driver goes on writing a run that is then resumed
    output.launched_at = time.time()  # the job times its launch from here (the cold-start breakdown)
    env = {**env, LAUNCHED_AT_ENV: repr(output.launched_at)}
    proc = subprocess.Popen(
        shown, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        stdin=subprocess.DEVNULL, errors="replace", preexec_fn=own_session_dying_with_parent(),
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            output(line)
        return proc.wait()
    except BaseException:
        # Ctrl-C or a failing sink: never leave a driver behind
        terminate(proc.pid, timeout=20, group=True, child=proc)
        raise
    finally:
        secrets.remove_properties(argv)  # the driver's JVM read it at its start
