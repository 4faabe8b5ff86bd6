"""Faster JVM starts for the local target: ONE home for the flags every Spark JVM it starts gets.

On a 2-core machine a cold submit is mostly JVMs starting: the driver's, then one executor per worker,
each loading ~10,000 classes from Spark's jars and JIT-compiling them. Measured here (pyspark 4.3, JDK 17,
a local[1] job, user CPU seconds, load ~10): 18.1 s as shipped, 9.2 s with an application class-data
sharing (AppCDS) archive of Spark's classes, 5.3 s with the archive and the C1 compiler only. So:

* **A class-data archive** (``-XX:SharedArchiveFile``): made once per machine, Spark and JDK by
  :func:`start_dump` (a ``local[1]`` job run with ``-XX:ArchiveClassesAtExit``, in the background after
  ``up``, by recorded pid, stopped by ``down``), kept under ``~/.cache/hyperspark/jvm`` (or
  ``$HYPERSPARK_CACHE_DIR/jvm``) with a name that changes with the JDK, SPARK_HOME and its jars. Every JVM
  started afterwards maps it: the daemons, each driver and each executor. The JVM checks the archive
  against its class path itself and ignores one that does not match (``-Xshare:auto``, the default; its
  warning is silenced), so a stale archive costs nothing but the saving. Behaviour is unchanged: the
  archive holds the same classes the jars do.
* **C1 only for drivers** (``-XX:TieredStopAtLevel=1 -XX:+UseSerialGC``, as the daemons already run): a
  driver mostly schedules and waits on sockets. Executors keep the full JIT, since MLlib trials compute
  in them.

``HYPERSPARK_JVM_ARCHIVE=0`` turns the archive off; ``HYPERSPARK_DRIVER_JVM_FLAGS`` replaces the driver's
flags. A user's own ``spark.driver.extraJavaOptions`` / ``spark.executor.extraJavaOptions`` (``--conf``)
replace these.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

from hyperspark.ops.state import StateDir

NAME = "jvm-archive"  # the dump's recorded process name in the state dir
DRIVER_FLAGS = os.environ.get("HYPERSPARK_DRIVER_JVM_FLAGS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"  # a stale or mismatched archive is ignored without a word

_DUMP_JOB = """
from pyspark.sql import SparkSession
s = SparkSession.builder.master("local[1]").appName("hyperspark-jvm-archive").config("spark.ui.enabled", "false").getOrCreate()
s.sparkContext.parallelize(range(4), 2).map(lambda x: x + 1).collect()   # the Python runner's classes
s.range(100).selectExpr("sum(id)").collect()                            # SQL's
s.stop()
"""

#: runs the dump and renames the archive into place only when the job succeeded (nothing half-written);
#: the marker (one dump per machine at a time) goes when it ends
_DUMPER = r"""
import os, subprocess, sys
submit, job, tmp, final, marker = sys.argv[1:6]
try:
    code = subprocess.call([submit, "--master", "local[1]", "--driver-java-options",
                            f"-XX:ArchiveClassesAtExit={tmp} -Xlog:cds=off -Xlog:cds+dynamic=off", job])
    if code == 0 and os.path.exists(tmp):
        os.replace(tmp, final)
finally:
    for path in (tmp, marker):
        if os.path.exists(path):
            os.remove(path)
sys.exit(code)
"""


def enabled() -> bool:
    return os.environ.get("HYPERSPARK_JVM_ARCHIVE", "1") != "0"


def cache_dir() -> Path:
    base = os.environ.get("HYPERSPARK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hyperspark")
    return Path(base) / "jvm"


def archive_path(spark_home: Path, java: str | None) -> Path:
    """Where the archive of THIS JDK and Spark distribution lives (a new pyspark: a new name)."""
    jars = sorted((spark_home / "jars").glob("*.jar"))
    key = hashlib.sha256()
    key.update(str(Path(java).resolve() if java else "java").encode())
    key.update(str(spark_home.resolve()).encode())
    for jar in jars:
        st = jar.stat()
        key.update(f"{jar.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return cache_dir() / f"spark-{key.hexdigest()[:16]}.jsa"


def archive_flags(spark_home: Path, java: str | None) -> str:
    """``-XX:SharedArchiveFile=...`` when this machine has the archive (and it is enabled), else ''."""
    if not enabled():
        return ""
    path = archive_path(spark_home, java)
    return f"-XX:SharedArchiveFile={path} {QUIET}" if path.is_file() else ""


def driver_conf(spark_home: Path, java: str | None) -> dict[str, str]:
    """The driver's and executors' JVM options (a user's ``--conf`` of the same keys replaces them)."""
    archive = archive_flags(spark_home, java)
    conf = {"spark.driver.extraJavaOptions": f"{DRIVER_FLAGS} {archive}".strip()}
    if archive:
        conf["spark.executor.extraJavaOptions"] = archive
    return {k: v for k, v in conf.items() if v}


def start_dump(state: StateDir, spark_home: Path, java: str | None, env: dict[str, str]) -> int | None:
    """Make the archive in the background when this machine has none (and none is being made by this
    state dir); the pid is recorded as :data:`NAME`, so ``down`` stops it. None when nothing started."""
    final = archive_path(spark_home, java)
    if not enabled() or final.is_file() or state.owned_alive(NAME) is not None:
        return None
    final.parent.mkdir(parents=True, exist_ok=True)
    marker = final.with_name(final.name + ".making")
    if not _claim(marker):
        return None  # another cluster of this machine is making it
    for stale in final.parent.glob(f"{final.name}.*.tmp"):  # a dump stopped by `down` before it ended
        stale.unlink(missing_ok=True)
    job = state.conf_dir / "jvm-archive-job.py"
    job.parent.mkdir(parents=True, exist_ok=True)
    job.write_text(_DUMP_JOB)
    tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")
    argv = [sys.executable, "-c", _DUMPER, str(spark_home / "bin" / "spark-submit"), str(job), str(tmp), str(final),
            str(marker)]
    try:
        pid = state.spawn(NAME, argv, env)
    except BaseException:
        marker.unlink(missing_ok=True)
        raise
    marker.write_text(str(pid))
    return pid


def _claim(marker: Path) -> bool:
    """Create ``marker`` exclusively; a marker whose dump process is gone (killed machine) is taken over."""
    import psutil

    for _ in range(2):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            try:
                pid = int(marker.read_text() or "0")
            except (OSError, ValueError):
                pid = 0
            if pid and psutil.pid_exists(pid):
                return False
            try:
                if not pid and time.time() - marker.stat().st_mtime < 30:  # being written right now
                    return False
            except FileNotFoundError:
                continue
            marker.unlink(missing_ok=True)
    return False


def wait_dump(state: StateDir, timeout: float) -> None:
    """Block until this state dir's dump (if any) has ended, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while state.owned_alive(NAME) is not None and time.monotonic() < deadline:
        time.sleep(0.5)


def stop_dump(state: StateDir) -> bool:
    return state.stop(NAME)
