"""Java: where it is, which version, and whether Spark can use it (one lookup for Spark and HDFS)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from hyperspark.ops.model import OpsError

MIN_JAVA = 17  # Spark 4.x runs on Java 17 and 21


def java_binary() -> str | None:
    """``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_home() -> str | None:
    """JAVA_HOME, else derived from the java binary (Hadoop 3's bin/hdfs insists on it)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = java_binary()
    if not java:
        return None
    home = Path(os.path.realpath(java)).parents[1]
    return str(home) if (home / "bin" / "java").exists() else None


def parse_java_major(text: str) -> int | None:
    """Major version from ``java -version`` output: '"17.0.15"' -> 17, '"1.8.0_392"' -> 8."""
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not m:
        return None
    major = int(m.group(1))
    if major == 1 and m.group(2):
        major = int(m.group(2))
    return major


def check_java() -> str:
    """Return a description of the usable Java; OpsError when missing or too old."""
    java = java_binary()
    if java is None:
        raise OpsError(f"java not found: install Java {MIN_JAVA}+ or set JAVA_HOME")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpsError(f"cannot run {java} -version: {exc}") from exc
    major = parse_java_major(out.stderr + out.stdout)
    if major is None:
        raise OpsError(f"cannot read the Java version from `{java} -version`")
    if major < MIN_JAVA:
        raise OpsError(f"Java {major} at {java} is too old: Spark needs Java {MIN_JAVA}+ (set JAVA_HOME)")
    return f"Java {major} ({java})"
