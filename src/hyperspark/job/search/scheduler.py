"""Schedulers: between the searcher (which configurations) and the in-flight loop (which slot runs what).

* :class:`Scheduler`: every configuration runs once, at the model's own (full) budget.
* :class:`ASHA`: asynchronous successive halving. A new configuration starts at the smallest budget
  (rung 0). When it finishes a rung it is promoted to the next rung's budget if its score is among the
  top ``n // reduction`` of the ``n`` scores that rung has seen so far (ties promote; with fewer than
  ``reduction`` results nothing is promoted yet) and the rung has promoted fewer than ``n // reduction``
  so far (ASHA's quota: at most 1/reduction of a rung ever goes up, even when an improving searcher makes
  every new result a top one); otherwise it is pruned there and the slot goes to new work. Promotions are
  dispatched before new configurations. The decision is made the moment a result lands, so there is never a barrier. (Optuna's SuccessiveHalvingPruner promotes the first result of every
  rung, ``max(1, n // reduction)``; measured here that lets an improving TPE promote most configurations,
  and cost 2.3x the core-seconds of a full-budget random search instead of a fraction of it.)
  When the searcher has nothing more to propose, nothing is running and no configuration has reached the
  full budget yet, the best configuration of the highest rung reached is promoted (``drain``), so a
  search always ends with at least one full-budget result to choose the best from.

Rung budgets: ``min * reduction**k`` while below ``max``, then ``max`` (e.g. 10, 30, 90, 270).

Every decision is written into the result row (``decision``), so a resumed run replays exactly what the
interrupted one decided, and re-queues promotions that had not finished.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hyperspark.job.protocol import TrialResult
from hyperspark.job.search.searcher import Config, Restored, Searcher


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

    def drain(self) -> Job | None:
        """Called when nothing runs and nothing new can start: one more job to finish the search, or None."""
        return None

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
        self.promoted: list[int] = [0 for _ in self.budgets]  # how many went up from each rung
        self._best_at: list[dict[str, tuple[float, Config]]] = [{} for _ in self.budgets]  # for drain
        self._advanced: set[tuple[str, int]] = set()  # (trial_id, rung) already sent to the next rung
        self._draining: Job | None = None  # the drained job on its way

    def on_result(self, job: Job, row: TrialResult) -> str:
        if self._draining is not None and job.key == self._draining.key:
            self._draining = None
        return super().on_result(job, row)

    @property
    def max_rung(self) -> int:
        return len(self.budgets) - 1

    def budget(self, rung: int) -> int:
        return self.budgets[rung]

    def _norm(self, score: float) -> float:
        return score if self.gib else -score

    def _record(self, row: TrialResult, config: Config | None = None) -> None:
        self.rung_scores[row.rung].append(self._norm(row.mean))
        cfg = config or Config(row.number if row.number is not None else -1, row.trial_id, row.params)
        self._best_at[row.rung][row.trial_id] = (self._norm(row.mean), cfg)
        if row.rung > 0:
            self._advanced.add((row.trial_id, row.rung - 1))
        if row.decision == "promote":
            self._advanced.add((row.trial_id, row.rung))
            self.promoted[row.rung] += 1

    def promotable(self, rung: int, score: float) -> bool:
        """Is ``score`` (already recorded at ``rung``) in the top k = n // reduction of that rung's n
        results, with fewer than k promoted from the rung so far?"""
        seen = sorted(self.rung_scores[rung], reverse=True)
        k = len(seen) // self.reduction
        return k > self.promoted[rung] and self._norm(score) >= seen[k - 1]

    def _decide(self, job: Job, score: float) -> str:
        self.rung_scores[job.rung].append(self._norm(score))
        self._best_at[job.rung][job.config.trial_id] = (self._norm(score), job.config)
        if job.rung >= self.max_rung:
            self.searcher.tell(job.config, "complete", score, job.budget)
            return "complete"
        if self.promotable(job.rung, score):
            self.searcher.report(job.config, score, job.budget)
            self._advanced.add(job.key)
            self.promoted[job.rung] += 1
            self._queue.append(Job(job.config, job.rung + 1, self.budgets[job.rung + 1]))
            return "promote"
        self.pruned += 1
        self.searcher.tell(job.config, "pruned", score, job.budget)
        return "prune"

    def drain(self) -> Job | None:
        if self._best_at[self.max_rung] or self._queue or self._draining is not None:
            return None
        for rung in range(self.max_rung - 1, -1, -1):
            waiting = [(sc, cfg) for tid, (sc, cfg) in self._best_at[rung].items()
                       if (tid, rung) not in self._advanced]
            if waiting:
                _sc, cfg = max(waiting, key=lambda t: t[0])
                self._advanced.add((cfg.trial_id, rung))
                self._draining = Job(cfg, rung + 1, self.budgets[rung + 1])
                return self._draining
            if self._best_at[rung]:
                return None  # this rung's best already went up and is still on its way
        return None
