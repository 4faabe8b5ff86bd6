"""Schedulers: between the searcher (which configurations) and the in-flight loop (which slot runs what).

* :class:`FullBudget`: every configuration runs once, at the model's own budget.
* :class:`ASHA`: asynchronous successive halving. A new configuration starts at the smallest budget
  (rung 0). When it finishes a rung it is promoted to the next rung's budget if its score is among the
  top ``max(1, n // reduction)`` of the ``n`` scores that rung has seen so far (ties promote); otherwise
  it is pruned there and the slot goes to new work. Promotions are dispatched before new configurations.
  This is the decision rule of Optuna's SuccessiveHalvingPruner (the first result of a rung is promoted),
  made the moment a result lands, so there is never a barrier.

Rung budgets: ``min * reduction**k`` while below ``max``, then ``max`` (e.g. 10, 30, 90, 270).

Every decision is written into the result row (``decision``), so a resumed run replays exactly what the
interrupted one decided, and re-queues promotions that had not finished.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .protocol import TrialResult
from .searcher import Config, Restored, Searcher


@dataclass(frozen=True)
class Job:
    config: Config
    rung: int = 0
    budget: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.config.trial_id, self.rung)


def rung_budgets(min_budget: int, max_budget: int, reduction: int) -> list[int]:
    out = [int(min_budget)]
    while out[-1] * reduction < max_budget:
        out.append(out[-1] * reduction)
    if out[-1] != max_budget:
        out.append(int(max_budget))
    return out


class Scheduler:
    """Full budget: one job per configuration."""

    def __init__(self, searcher: Searcher, greater_is_better: bool):
        self.searcher = searcher
        self.gib = greater_is_better
        self._queue: deque[Job] = deque()
        self.pruned = 0

    @property
    def max_rung(self) -> int:
        return 0

    def budget(self, rung: int) -> int | None:
        return None

    def next_job(self) -> Job | None:
        if self._queue:
            return self._queue.popleft()
        cfg = self.searcher.ask()
        return None if cfg is None else Job(cfg, 0, self.budget(0))

    def has_queued(self) -> bool:
        return bool(self._queue)

    def on_result(self, job: Job, row: TrialResult) -> str:
        """Record a finished job; returns the decision written into its row."""
        if not row.ok:
            self.searcher.tell(job.config, "failed")
            return "failed"
        return self._decide(job, row.mean)

    def _decide(self, job: Job, score: float) -> str:
        self.searcher.tell(job.config, "complete", score, job.budget)
        return "complete"

    # -- resume ----------------------------------------------------------------------------------
    def restore(self, rows: list[TrialResult], configs: dict[str, Config]) -> list[Restored]:
        """Replay recorded rows (in the order they finished); re-queue unfinished promotions."""
        per_config: dict[str, list[TrialResult]] = {}
        for r in sorted(rows, key=lambda r: (r.ended_at or 0.0, r.rung)):
            per_config.setdefault(r.trial_id, []).append(r)
            if r.ok:
                self._record(r)
        records = []
        for tid, rs in per_config.items():
            cfg = configs[tid]
            last = max(rs, key=lambda r: r.rung)
            inter = {r.budget if r.budget is not None else r.rung: r.mean for r in rs if r is not last and r.ok}
            if not last.ok:
                records.append(Restored(cfg, "failed", None, inter))
            elif last.decision == "promote":
                inter[last.budget if last.budget is not None else last.rung] = last.mean
                self._queue.append(Job(cfg, last.rung + 1, self.budget(last.rung + 1)))
                records.append(Restored(cfg, "pending", None, inter))
            elif last.decision == "prune":
                self.pruned += 1
                records.append(Restored(cfg, "pruned", last.mean, inter))
            else:
                records.append(Restored(cfg, "complete", last.mean, inter))
        self.searcher.restore(records)
        return records

    def _record(self, row: TrialResult) -> None:
        pass


class ASHA(Scheduler):
    def __init__(self, searcher: Searcher, greater_is_better: bool, resource: str, min_budget: int,
                 max_budget: int, reduction: int):
        super().__init__(searcher, greater_is_better)
        self.resource = resource
        self.reduction = reduction
        self.budgets = rung_budgets(min_budget, max_budget, reduction)
        self.rung_scores: list[list[float]] = [[] for _ in self.budgets]  # as seen, larger = better

    @property
    def max_rung(self) -> int:
        return len(self.budgets) - 1

    def budget(self, rung: int) -> int:
        return self.budgets[rung]

    def _norm(self, score: float) -> float:
        return score if self.gib else -score

    def _record(self, row: TrialResult) -> None:
        self.rung_scores[row.rung].append(self._norm(row.mean))

    def promotable(self, rung: int, score: float) -> bool:
        """Is ``score`` (already recorded at ``rung``) in the top max(1, n // reduction) of that rung?"""
        seen = sorted(self.rung_scores[rung], reverse=True)
        k = max(1, len(seen) // self.reduction)
        return self._norm(score) >= seen[k - 1]

    def _decide(self, job: Job, score: float) -> str:
        self.rung_scores[job.rung].append(self._norm(score))
        if job.rung >= self.max_rung:
            self.searcher.tell(job.config, "complete", score, job.budget)
            return "complete"
        if self.promotable(job.rung, score):
            self.searcher.report(job.config, score, job.budget)
            self._queue.append(Job(job.config, job.rung + 1, self.budgets[job.rung + 1]))
            return "promote"
        self.pruned += 1
        self.searcher.tell(job.config, "pruned", score, job.budget)
        return "prune"
