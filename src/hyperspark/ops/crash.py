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
    text = f"hyperspark {' '.join(map(str, args or []))}\n\n{traceback_text(exc)}"
    for folder in (Path(os.environ.get("HYPERSPARK_STATE_DIR") or Path.home() / ".hyperspark") / "crash",
                   Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            log = folder / f"hyperspark-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
            log.write_text(text)
            return log
        except OSError:
            continue
    return None
