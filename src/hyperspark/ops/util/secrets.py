"""Secrets out of argv and readable files: confs that may carry one go to spark-submit in a 0600
properties file, never on the command line (``ps`` shows it to every local user).

What counts as a secret, and how a line hides it, is ONE rule: :mod:`hyperspark.job.redact` (the warm
driver applies it too). This module adds what only the kit does: splitting a conf, writing the private
properties file, and private (0700) directories.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Mapping

from hyperspark.job.redact import REDACTED, SECRET_SET_ENV, is_secret, redact_argv, redact_text, redact_uri
from hyperspark.ops.util.files import write_atomic

__all__ = ["REDACTED", "is_secret", "redact_argv", "redact_text", "redact_uri", "split_conf",
           "write_properties", "secret_properties_file", "remove_properties", "private_dir", "PROPERTIES_FLAG"]

PROPERTIES_FLAG = "--properties-file"


def split_conf(conf: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """``(plain, secret)``: the confs that may go on a command line, and those that may not."""
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for k, v in conf.items():
        (secret if is_secret(k, str(v)) else plain)[k] = str(v)
    return plain, secret


def _escape(text: str, key: bool) -> str:
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    if key:
        out = out.replace("=", "\\=").replace(":", "\\:").replace(" ", "\\ ")
    if out[:1] in ("#", "!", " "):
        out = "\\" + out
    return out


def hide_overrides(argv: list[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """``--set KEY=VALUE`` pairs of a job command line that may carry a secret, moved from ``argv`` into
    ``env`` (:data:`SECRET_SET_ENV`, read back by the job's command line)."""
    out, hidden, i = [], [], 0
    while i < len(argv):
        if argv[i] == "--set" and i + 1 < len(argv) and is_secret(*(argv[i + 1].split("=", 1) + [""])[:2]):
            hidden.append(argv[i + 1])
            i += 2
            continue
        out.append(argv[i])
        i += 1
    new_env = dict(env)
    if hidden:
        new_env[SECRET_SET_ENV] = json.dumps(hidden)
    return out, new_env


def private_dir(path: Path) -> Path:
    """``path`` created (with parents) and made 0700."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_properties(path: Path, conf: Mapping[str, str]) -> Path:
    """A Java properties file (what ``spark-submit --properties-file`` reads), created 0600."""
    text = "".join(f"{_escape(k, True)}={_escape(str(v), False)}\n" for k, v in conf.items())
    write_atomic(path, text, mode=0o600)
    os.chmod(path, 0o600)
    return Path(path)


def secret_properties_file(folder: Path, conf: Mapping[str, str]) -> Path:
    """A new 0600 properties file with ``conf`` in the 0700 ``folder`` (one per launch: remove it with
    :func:`remove_properties` once the process read it)."""
    return write_properties(private_dir(folder) / f"secrets-{uuid.uuid4().hex[:12]}.properties", conf)


def remove_properties(argv: list[str]) -> None:
    """Delete the properties file a command line names (a launch is over: its JVM read the file)."""
    if PROPERTIES_FLAG in argv:
        i = argv.index(PROPERTIES_FLAG)
        if i + 1 < len(argv):
            path = Path(argv[i + 1])
            path.unlink(missing_ok=True)
            if path.parent.name.startswith("hyperspark-conf-"):  # the private folder argv() made for it
                try:
                    path.parent.rmdir()
                except OSError:
                    pass
