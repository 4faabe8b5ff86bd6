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

* :class:`MOASHA`: the same asynchronous rule over several objectives (Schmucker et al. 2021): a rung's
  results are ordered by non-dominated sorting, then crowding distance within a front (NSGA-II's order,
  ``pareto.rank_order``; infeasible results after every feasible one, by total violation), and a result is
  promoted if it is among the first ``n // reduction`` of that order, under the same quota; drain takes
  the first of that order.

Rung budgets: ``min * reduction**k`` while below ``max``, then ``max`` (e.g. 10, 30, 90, 270).

With ``objectives`` (``pareto.Objectives``) the searcher is told every objective's value and each
constraint's violation; without, the row's score.

Every decision is written into the result row (``decision``), so a resumed run replays exactly what the
interrupted one decided, and re-queues promotions that had not finished.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hyperspark.job.pareto import Objectives, is_feasible, rank_order
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

    def __init__(self, searcher: Searcher, greater_is_better: bool, objectives: Objectives | None = None):
        self.searcher = searcher
        self.gib = greater_is_better
        self.objectives = objectives
        self._queue: deque[Job] = deque()
        self.pruned = 0
        self.warm_info: dict | None = None  # what a warm start told the searcher (search/warm.py)

    def told(self, row: TrialResult):
        """What the searcher is told for a successful row: its score, or every objective's value."""
        obj = self.objectives
        if obj is None:
            return row.mean
        vals = obj.values(row)
        return vals if obj.multi or vals is None else vals[0]

    def constraints(self, row: TrialResult) -> list[float] | None:
        if self.objectives is None or not self.objectives.constraints:
            return None
        return self.objectives.violations(row)

    def _complete(self, job: Job, row: TrialResult) -> str:
        """Tell the searcher a final result (constraints only when there are some: a searcher without them
        keeps the four-argument ``tell``)."""
        cons = self.constraints(row)
        extra = {} if cons is None else {"constraints": cons}
        self.searcher.tell(job.config, "complete", self.told(row), job.budget, **extra)
        return "complete"

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
        return self._decide(job, row)

    def _decide(self, job: Job, row: TrialResult) -> str:
        return self._complete(job, row)

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
                records.append(Restored(cfg, "complete", self.told(last), inter, self.constraints(last)))
        self.searcher.restore(records)
        return records

    def _record(self, row: TrialResult) -> None:
        pass


class ASHA(Scheduler):
    def __init__(self, searcher: Searcher, greater_is_better: bool, resource: str, min_budget: int,
                 max_budget: int, reduction: int, objectives: Objectives | None = None):
        super().__init__(searcher, greater_is_better, objectives)
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

    def _decide(self, job: Job, row: TrialResult) -> str:
        score = row.mean
        self.rung_scores[job.rung].append(self._norm(score))
        self._best_at[job.rung][job.config.trial_id] = (self._norm(score), job.config)
        return self._promote_or_prune(job, row, self.promotable(job.rung, score))

    def _promote_or_prune(self, job: Job, row: TrialResult, promotable: bool) -> str:
        score = row.mean
        if job.rung >= self.max_rung:
            return self._complete(job, row)
        if promotable:
            self.searcher.report(job.config, score, job.budget)
            self._advanced.add(job.key)
            self.promoted[job.rung] += 1
            self._queue.append(Job(job.config, job.rung + 1, self.budgets[job.rung + 1]))
            return "promote"
        self.pruned += 1
        self.searcher.tell(job.config, "pruned", score, job.budget)
        return "prune"

    def _pick(self, rung: int, waiting: list[tuple[str, Config]]) -> Config:
        """Drain's choice among a rung's results not yet advanced: the best score."""
        return max(waiting, key=lambda t: self._best_at[rung][t[0]][0])[1]

    def drain(self) -> Job | None:
        if self._best_at[self.max_rung] or self._queue or self._draining is not None:
            return None
        for rung in range(self.max_rung - 1, -1, -1):
            waiting = [(tid, cfg) for tid, (_sc, cfg) in self._best_at[rung].items()
                       if (tid, rung) not in self._advanced]
            if waiting:
                cfg = self._pick(rung, waiting)
                self._advanced.add((cfg.trial_id, rung))
                self._draining = Job(cfg, rung + 1, self.budgets[rung + 1])
                return self._draining
            if self._best_at[rung]:
                return None  # this rung's best already went up and is still on its way
        return None


class MOASHA(ASHA):
    """ASHA over several objectives: promotion by non-dominated sorting and crowding distance (see the
    module docstring). ``objectives`` is required; a rung's results are kept as minimized points."""

    def __init__(self, searcher: Searcher, greater_is_better: bool, resource: str, min_budget: int,
                 max_budget: int, reduction: int, objectives: Objectives):
        super().__init__(searcher, greater_is_better, resource, min_budget, max_budget, reduction, objectives)
        self.rung_points: list[dict[str, tuple]] = [{} for _ in self.budgets]  # trial_id -> sort key

    def point(self, row: TrialResult) -> tuple:
        """(total violation, minimized values): infeasible results sort after every feasible one."""
        obj = self.objectives
        broken = 0.0 if is_feasible(row) else sum(max(0.0, v) for v in obj.violations(row))
        return (broken, obj.minimized(obj.values(row)))

    def order(self, rung: int) -> list[str]:
        """The rung's trial ids best first: feasible by front and crowding, then infeasible by violation."""
        pts = self.rung_points[rung]
        feas = [t for t, p in pts.items() if p[0] == 0.0]
        ranked = [feas[i] for i in rank_order([pts[t][1] for t in feas])]
        return ranked + sorted((t for t in pts if pts[t][0] > 0.0), key=lambda t: pts[t][0])

    def _record(self, row: TrialResult, config: Config | None = None) -> None:
        super()._record(row, config)
        self.rung_points[row.rung][row.trial_id] = self.point(row)

    def promotable_id(self, rung: int, tid: str) -> bool:
        """Is ``tid`` (already recorded at ``rung``) among the first k = n // reduction of the rung's order,
        with fewer than k promoted from the rung so far?"""
        k = len(self.rung_points[rung]) // self.reduction
        return k > self.promoted[rung] and tid in self.order(rung)[:k]

    def _decide(self, job: Job, row: TrialResult) -> str:
        tid = job.config.trial_id
        self.rung_scores[job.rung].append(self._norm(row.mean))
        self._best_at[job.rung][tid] = (self._norm(row.mean), job.config)
        self.rung_points[job.rung][tid] = self.point(row)
        return self._promote_or_prune(job, row, self.promotable_id(job.rung, tid))

    def _pick(self, rung: int, waiting: list[tuple[str, Config]]) -> Config:
        cfgs = dict(waiting)
        return cfgs[next(t for t in self.order(rung) if t in cfgs)]
