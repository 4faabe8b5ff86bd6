"""Upload by temporary name inside a NameNode container/pod: one script, one verdict, two targets.

The compose target copies the file into the container first (``local_file``); the k8s target
streams it on stdin. Both run :func:`script` with ``sh -c`` and hand the output to :func:`verdict`.
"""
from __future__ import annotations

import re
import secrets
import shlex
from importlib import resources
from pathlib import Path

from hyperspark.job.protocol import one_line

from hyperspark.ops.model import OpsError, UploadResult

EXISTS_CODE = 3


def script(dest: str, force: bool, replication: int, size: int, local_file: str | None = None) -> str:
    """The upload script with its variables set (shell-quoted) in front."""
    tmp = f"{dest}._COPYING_hyperspark-{secrets.token_hex(4)}"
    values = {"DEST": dest, "FORCE": "1" if force else "0", "REPL": str(replication), "SIZE": str(size),
              "TMP": tmp, "LOCAL_FILE": local_file or ""}
    head = "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())
    return head + resources.files("hyperspark.ops.hdfs").joinpath("upload.sh").read_text()


def verdict(src: Path, uri: str, exit_code: int, output: str, stdout: str, checksum: str, size: int,
            seconds: float) -> UploadResult:
    """Judge what the script printed (``output``: all of it, ``stdout``: without stderr)."""
    if exit_code == EXISTS_CODE or "HYPERSPARK_EXISTS" in output:
        raise OpsError(f"{uri} exists: pass --force to overwrite it")
    if exit_code != 0:
        raise OpsError(f"upload to {uri} failed: {last_error(output)}")
    match = re.search(r"HYPERSPARK_SHA256 ([0-9a-f]{64})", stdout)
    if not match or match.group(1) != checksum:
        raise OpsError(f"upload of {src} is not byte-exact: sha256 read back from HDFS differs")
    return UploadResult(src=str(src), dest=uri, bytes=size, checksum=checksum, seconds=seconds)


def _is_noise(line: str) -> bool:
    return bool(re.match(r"^(\d\d/\d\d/\d\d \d\d:\d\d:\d\d |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )(WARN|INFO) ", line))


def last_error(output: str) -> str:
    """The last line of HDFS client output that is not a log4j WARN/INFO line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not _is_noise(ln)]
    return one_line(" ".join(lines[-1].split())) if lines else "no output"
