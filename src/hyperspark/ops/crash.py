"""The last resort for an exception nobody turned into a message: one line naming it, and its traceback
in a log under ``<state>/crash`` (or the temp dir), unless ``--debug`` / HYPERSPARK_DEBUG=1 asks for it
on stderr instead."""
from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from hyperspark.job.protocol import one_line


def describe(exc: BaseException) -> str:
    """``Type: first line`` (or just the type when the exception has no text)."""
    first = one_line(str(exc))
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def debug_requested(args: Any) -> bool:
    return "--debug" in list(args or []) or os.environ.get("HYPERSPARK_DEBUG", "") not in ("", "0")


def save_log(exc: BaseException, args: Any) -> Path | None:
    """The command line and the traceback in a new log file; None when no folder would take it."""
    from hyperspark.job.redact import redact_argv, redact_text

    # secrets hidden (the one rule, hyperspark.job.redact): --conf/--set/--mlflow values and what the traceback shows
    text = f"hyperspark {' '.join(redact_argv(args or []))}\n\n{redact_text(traceback_text(exc))}"
    state_root = Path(os.environ.get("HYPERSPARK_STATE_DIR") or Path.home() / ".hyperspark")
    for folder in (state_root / "crash", Path(tempfile.gettempdir())):
        try:
            if folder.parent == state_root:
                from hyperspark.ops.state import StateDir

                try:
                    StateDir(state_root).ensure()  # a new state dir: 0700, marked
                except Exception:  # noqa: BLE001 - OpsError of a full/read-only dir: the temp dir then
                    pass
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            log = folder / f"hyperspark-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            return log
        except OSError:
            continue
    return None
