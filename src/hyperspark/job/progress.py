"""Driver-side progress: evaluations done, configurations, best so far, pruned, ETA.

Best so far counts feasible final results only: a trial that breaks a constraint is never shown as best
(``infeasible`` counts them). With several objectives there is no one best: the line carries the size of
the Pareto front so far (``front``: feasible final results no other one dominates, as ``pareto.front``).

Always prints one machine-readable line per finished (trial, rung) on stdout
(``HYPERSPARK_PROGRESS {ProgressEvent}``), which is what logs keep and what the ``hyperspark`` CLI parses;
on a terminal it also draws a live bar on stderr.
"""
from __future__ import annotations

import sys
import time

from hyperspark.job.pareto import Objectives, dominates, is_feasible
from hyperspark.job.protocol import PROGRESS_PREFIX, ProgressEvent, TrialResult, better

PREFIX = PROGRESS_PREFIX


class Progress:
    def __init__(self, total: int | None, metric: str, greater_is_better: bool = True, already_done: int = 0,
                 out=None, live: bool | None = None, lines: bool = True, objectives: Objectives | None = None):
        self.total = total
        self.metric = metric
        self.gib = greater_is_better
        self.done = already_done
        self.failed = 0
        self.configs: set[str] = set()
        self.best: float | None = None
        self.best_params: dict | None = None
        self.infeasible = 0
        # several objectives: the front so far, as (minimized values, trial id) of feasible final rows
        self.objectives = objectives if objectives is not None and objectives.multi else None
        self._front: list[tuple[tuple[float, ...], str]] = []
        self._one = None  # one objective that is not the scored metric (e.g. predict_ms): best by its value
        if objectives is not None and not objectives.multi and objectives.names[0] != objectives.primary:
            self._one, self.metric, self.gib = objectives, objectives.names[0], objectives.greater[0]
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

    @property
    def front(self) -> int | None:
        """The Pareto front's size so far (None: one objective)."""
        return None if self.objectives is None else len(self._front)

    def seed(self, row: TrialResult) -> None:
        """Count a final row (a new one or a resumed one) towards the best or the front: feasible only."""
        if not row.ok or row.decision not in (None, "complete"):
            return
        if not is_feasible(row):
            self.infeasible += 1
        elif self._one is not None:
            self.seed_best(self._one.value(row, self.metric), row.params)
        elif self.objectives is None:
            self.seed_best(row.mean, row.params)
        else:
            self._add_to_front(row)

    def _add_to_front(self, row: TrialResult) -> None:
        vals = self.objectives.values(row)
        if vals is None:
            return
        pt = self.objectives.minimized(vals)
        if any(dominates(q, pt) for q, _ in self._front):
            return
        self._front = [(q, t) for q, t in self._front if not dominates(pt, q)] + [(pt, row.trial_id)]

    def update(self, row: TrialResult, pruned: int = 0) -> None:
        self.done += 1
        self._new += 1
        self.configs.add(row.trial_id)
        self.seed(row)
        if not row.ok:
            self.failed += 1
        elapsed = time.monotonic() - self._start
        finished = len(self.configs)
        eta = None
        if self.total and finished:
            eta = elapsed / finished * max(0, self.total - finished)
        ev = ProgressEvent(done=self.done, total=self.total, configs=finished, failed=self.failed, pruned=pruned,
                           metric=self.metric, best=self.best, best_params=self.best_params, front=self.front,
                           infeasible=self.infeasible,
                           eta_s=None if eta is None else round(eta, 1), elapsed_s=round(elapsed, 1),
                           trial_id=row.trial_id, status=row.status, score=row.mean, rung=row.rung,
                           budget=row.budget, executor_id=row.executor_id)
        if self.lines:
            print(PREFIX + ev.model_dump_json(exclude_none=True), file=self.out, flush=True)
        if self._bar is not None:
            best = f"best {self.metric}={self.best:.4f}" if self.best is not None else ""
            if self.objectives is not None:
                best = f"front {len(self._front)}"
            self._bar.update(self._task, completed=min(finished, self.total or finished), best=best)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
