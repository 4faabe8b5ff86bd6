"""Driver-side progress: trials done/total, best so far, ETA.

Always prints one machine-readable line per finished trial on stdout (``HYPERSPARK_PROGRESS {json}``),
which is what logs keep and what the ``hyperspark`` CLI parses; on a terminal it also draws a live bar
on stderr.
"""
from __future__ import annotations

import json
import sys
import time

from . import metrics as M

PREFIX = "HYPERSPARK_PROGRESS "
RESULT_PREFIX = "HYPERSPARK_RESULT "


class Progress:
    def __init__(self, total: int, metric: str, already_done: int = 0, out=None, live: bool | None = None):
        self.total = total
        self.metric = metric
        self.done = already_done
        self.failed = 0
        self.best: float | None = None
        self.best_params: dict | None = None
        self._start = time.monotonic()
        self._new = 0
        self.out = out or sys.stdout
        self._bar = None
        if live is None:
            live = sys.stderr.isatty()
        if live:
            try:
                from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

                self._bar = RichProgress(TextColumn("trials"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                         TextColumn("{task.fields[best]}"), TimeRemainingColumn(),
                                         transient=False, console=None)
                self._task = self._bar.add_task("trials", total=total, completed=already_done, best="")
                self._bar.start()
            except ImportError:  # rich is optional inside executors' images; plain lines still flow
                self._bar = None

    def seed_best(self, score: float | None, params: dict | None) -> None:
        if score is not None and M.better(score, self.best if self.best is not None else float("nan"), self.metric):
            self.best, self.best_params = score, params

    def update(self, row: dict) -> None:
        self.done += 1
        self._new += 1
        if row.get("status") == "ok":
            self.seed_best(row.get("mean"), row.get("params"))
        else:
            self.failed += 1
        elapsed = time.monotonic() - self._start
        remaining = self.total - self.done
        eta = elapsed / self._new * remaining if self._new else None
        info = {"done": self.done, "total": self.total, "failed": self.failed, "metric": self.metric,
                "best": self.best, "best_params": self.best_params, "eta_s": None if eta is None else round(eta, 1),
                "elapsed_s": round(elapsed, 1), "trial_id": row.get("trial_id"), "status": row.get("status"),
                "score": row.get("mean"), "executor_id": row.get("executor_id")}
        print(PREFIX + json.dumps(info, sort_keys=True), file=self.out, flush=True)
        if self._bar is not None:
            best = f"best {self.metric}={self.best:.4f}" if self.best is not None else ""
            self._bar.update(self._task, completed=self.done, best=best)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
