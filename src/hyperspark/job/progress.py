"""Driver-side progress: evaluations done, configurations, best so far, pruned, ETA.

Always prints one machine-readable line per finished (trial, rung) on stdout
(``HYPERSPARK_PROGRESS {ProgressEvent}``), which is what logs keep and what the ``hyperspark`` CLI parses;
on a terminal it also draws a live bar on stderr.
"""
from __future__ import annotations

import sys
import time

from hyperspark.job.protocol import PROGRESS_PREFIX, ProgressEvent, TrialResult, better

PREFIX = PROGRESS_PREFIX


class Progress:
    def __init__(self, total: int | None, metric: str, greater_is_better: bool = True, already_done: int = 0,
                 out=None, live: bool | None = None, lines: bool = True):
        self.total = total
        self.metric = metric
        self.gib = greater_is_better
        self.done = already_done
        self.failed = 0
        self.configs: set[str] = set()
        self.best: float | None = None
        self.best_params: dict | None = None
        self._start = time.monotonic()
        self._new = 0
        self.out = out or sys.stdout
        self._bar = None
        self.lines = lines  # HYPERSPARK_PROGRESS lines (the Python API turns them off)
        if live is None:
            live = sys.stderr.isatty()
        if live:
            try:
                from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

                self._bar = RichProgress(TextColumn("trials"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                         TextColumn("{task.fields[best]}"), TimeRemainingColumn(),
                                         transient=False, console=None)
                self._task = self._bar.add_task("trials", total=total, completed=0, best="")
                self._bar.start()
            except ImportError:  # rich is optional inside executors' images; plain lines still flow
                self._bar = None

    def seed_best(self, score: float | None, params: dict | None) -> None:
        if better(score, self.best, self.gib):
            self.best, self.best_params = score, params

    def update(self, row: TrialResult, pruned: int = 0) -> None:
        self.done += 1
        self._new += 1
        self.configs.add(row.trial_id)
        if row.ok and row.decision in (None, "complete"):
            self.seed_best(row.mean, row.params)
        elif not row.ok:
            self.failed += 1
        elapsed = time.monotonic() - self._start
        finished = len(self.configs)
        eta = None
        if self.total and finished:
            eta = elapsed / finished * max(0, self.total - finished)
        ev = ProgressEvent(done=self.done, total=self.total, configs=finished, failed=self.failed, pruned=pruned,
                           metric=self.metric, best=self.best, best_params=self.best_params,
                           eta_s=None if eta is None else round(eta, 1), elapsed_s=round(elapsed, 1),
                           trial_id=row.trial_id, status=row.status, score=row.mean, rung=row.rung,
                           budget=row.budget, executor_id=row.executor_id)
        if self.lines:
            print(PREFIX + ev.model_dump_json(exclude_none=True), file=self.out, flush=True)
        if self._bar is not None:
            best = f"best {self.metric}={self.best:.4f}" if self.best is not None else ""
            self._bar.update(self._task, completed=min(finished, self.total or finished), best=best)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
