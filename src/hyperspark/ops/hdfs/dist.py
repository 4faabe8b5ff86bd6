"""Find a Hadoop distribution that can run a real HDFS (NameNode + DataNodes).

Users normally have one (a Hadoop 3.x tarball, or the ``apache/hadoop`` image)
and point ``HADOOP_HOME`` at it. Where none can be downloaded (no Maven
Central, no Docker Hub) ``scripts/hadoop-standin.sh`` builds a distribution
layout from the REAL Apache Hadoop 2.7.4 server jars that ship inside pyspark
3.0.2's source package on PyPI; it is cached so the cost (about 10 s and
205 MB of download) is paid once per machine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hyperspark.ops.model import OpsError
from hyperspark.ops.util.files import cache_dir

STANDIN_VERSION = "2.7.4"
STANDIN_MARKER = ".hyperspark-standin"
#: Must equal LAYOUT in scripts/hadoop-standin.sh: an older cache gets rebuilt.
STANDIN_LAYOUT = 2
SCRIPT_NAME = "hadoop-standin.sh"
#: Overrides where the build script is looked for (for installs without the repo).
SCRIPT_ENV = "HYPERSPARK_HADOOP_STANDIN_SCRIPT"
BUILD_TIMEOUT_S = 1800


def default_cache_dir() -> Path:
    """Where the stand-in lives on a host: ``$XDG_CACHE_HOME/hyperspark/hadoop-2.7.4``."""
    return cache_dir(f"hadoop-{STANDIN_VERSION}")


def is_hadoop_home(path: Path) -> bool:
    """A usable distribution has an executable ``bin/hdfs`` (Hadoop 2.x, 3.x or the stand-in)."""
    hdfs = path / "bin" / "hdfs"
    return hdfs.is_file() and os.access(hdfs, os.X_OK)


def is_standin_complete(path: Path) -> bool:
    marker = path / STANDIN_MARKER
    try:
        lines = marker.read_text().splitlines()
    except OSError:
        return False
    return f"layout={STANDIN_LAYOUT}" in lines and is_hadoop_home(path)


def standin_script() -> Path:
    """Locate ``hadoop-standin.sh`` without copying it into the package.

    Order: ``$HYPERSPARK_HADOOP_STANDIN_SCRIPT``; the repository's ``scripts/`` (source checkouts and
    editable installs) or the copy a wheel ships (:mod:`hyperspark.ops.resources`).
    """
    candidates = []
    if os.environ.get(SCRIPT_ENV):
        candidates.append(Path(os.environ[SCRIPT_ENV]))
    from hyperspark.ops import resources

    shipped = resources.find(f"scripts/{SCRIPT_NAME}")
    candidates += [shipped] if shipped else []
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise OpsError(
        f"cannot find {SCRIPT_NAME} (looked in {', '.join(str(c.parent) for c in candidates) or 'the package'}): "
        f"set HADOOP_HOME to a Hadoop distribution or {SCRIPT_ENV} to the script"
    )


def build_standin(dest: Path, timeout_s: float = BUILD_TIMEOUT_S) -> Path:
    """Run the build script into ``dest`` (a no-op when ``dest`` is complete)."""
    if is_standin_complete(dest):
        return dest
    bash = shutil.which("bash")
    if bash is None:
        raise OpsError("bash is needed to build the Hadoop stand-in and was not found on PATH")
    script = standin_script()
    try:
        proc = subprocess.run(
            [bash, str(script), str(dest)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise OpsError(f"building the Hadoop stand-in into {dest} took over {timeout_s:.0f} s") from exc
    if proc.returncode != 0 or not is_standin_complete(dest):
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit code {proc.returncode}"
        raise OpsError(f"building the Hadoop stand-in into {dest} failed: {why}")
    return dest


def ensure_hadoop_home(cache_dir: Path | None = None) -> Path:
    """Return a Hadoop distribution to run HDFS from.

    ``$HADOOP_HOME`` wins when set. If it is set but lacks ``bin/hdfs`` we
    stop rather than silently substituting Hadoop 2.7.4: the user asked for a
    specific distribution. Otherwise the cached stand-in is built if needed.
    """
    env_home = os.environ.get("HADOOP_HOME")
    if env_home:
        home = Path(env_home).expanduser()
        if is_hadoop_home(home):
            return home.resolve()
        raise OpsError(
            f"HADOOP_HOME={env_home} has no executable bin/hdfs: fix it, or unset it to use "
            f"the built-in Hadoop {STANDIN_VERSION} stand-in"
        )
    return build_standin(cache_dir or default_cache_dir())
