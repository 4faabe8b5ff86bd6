"""Search algorithms behind one ask/tell seam: grid, random, and Optuna's samplers (tpe, nsga2, gp).

A searcher proposes configurations (``ask``) and learns from their outcomes (``tell``). It knows nothing
about Spark, budgets or slots: the scheduler (``scheduler.py``) decides what runs at which budget, and the
in-flight loop (``loop.py``) keeps the slots busy.

Adding a search algorithm: subclass :class:`Searcher` (implement ``ask``/``tell``/``restore``; say what it
asks of a spec with ``needs_trials`` and ``check_space``) and add its line to ``SEARCHERS``: the spec's
``search.type`` (``spec.SEARCH_TYPES``) derives from that registry.

Several objectives: a searcher is built with ``directions`` (one bool per objective, True = maximize);
``tell`` then takes a list of values. ``multi_objective`` says whether it can (every searcher here can:
grid and random ignore the values; tpe is Optuna's multi-objective TPE, nsga2 NSGA-II, gp the GP sampler).
Constraints go to Optuna as each trial's constraint values (``Trial.set_constraint``, Optuna 5's way; the
samplers read them): the violations ``tell`` receives (> 0: broken).
Conditional spaces: Optuna suggests define-by-run (``Space.suggest``), so an unchosen branch's parameters
are never proposed. ``enqueue`` (configurations to evaluate first) and ``warm`` (earlier trials told, never
re-run) work for every searcher.

Reproducibility: a configuration's proposal depends only on the seed, its number and the outcomes told
before it was asked. Optuna searchers reseed their sampler per number (``seed + number``), so a run resumed
from ``trials.jsonl`` (outcomes restored, then asked on) proposes what the uninterrupted run would have.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Sequence

from hyperspark.errors import SpecError
from hyperspark.space import DISTRIBUTIONS, Space, cost_hint, trial_id

Outcome = Literal["complete", "pruned", "failed", "pending"]


@dataclass(frozen=True)
class Config:
    """One configuration the searcher proposed: ``number`` is its ask order, ``trial_id`` its identity."""

    number: int
    trial_id: str
    params: dict


@dataclass
class Restored:
    """What ``trials.jsonl`` says about one configuration (for resume)."""

    config: Config
    outcome: Outcome
    value: float | list[float] | None = None  # complete: the final score(s); pruned: the last rung's score
    intermediate: dict[int, float] = field(default_factory=dict)  # budget -> score, rungs below the last
    constraints: list[float] | None = None  # complete, with constraints: each one's violation (> 0 broken)


class Searcher(ABC):
    name: ClassVar[str] = "?"
    needs_trials: ClassVar[bool] = True  # the spec must say search.trials (how many configurations)
    multi_objective: ClassVar[bool] = True  # can take several objectives (the spec refuses it otherwise)

    def __init__(self, model: str, space: dict | Space, trials: int | None, seed: int, greater_is_better: bool,
                 *, directions: Sequence[bool] | None = None, n_constraints: int = 0,
                 enqueue: Sequence[dict] | None = None):
        self.model = model
        self.space = Space.from_spec(space)
        self.seed = seed
        self.greater_is_better = greater_is_better
        self.limit = trials
        self.directions = list(directions) if directions else [greater_is_better]
        self.n_constraints = n_constraints
        self.enqueued = [dict(p) for p in enqueue or []]  # evaluated first, in this order
        self.warm_ids: set[str] = set()  # earlier runs' trials (told, never re-run)

    @property
    def multi(self) -> bool:
        return len(self.directions) > 1

    @property
    @abstractmethod
    def total(self) -> int:
        """How many configurations this search will try in all."""

    @abstractmethod
    def ask(self) -> Config | None:
        """The next configuration, or None when the search has nothing more to propose."""

    def report(self, config: Config, value: float, budget: int) -> None:
        """An intermediate score (ASHA promoted the configuration to a larger budget)."""

    @abstractmethod
    def tell(self, config: Config, outcome: Outcome, value: float | list[float] | None = None,
             budget: int | None = None, constraints: list[float] | None = None) -> None:
        """The configuration's final outcome: complete (value: one number, or one per objective), pruned
        (last value at budget) or failed; ``constraints``: each constraint's violation (> 0: broken)."""

    @abstractmethod
    def restore(self, records: list[Restored]) -> None:
        """Replay recorded outcomes (resume) so that asks go on where the recorded run stopped."""

    def warm(self, records: list[Restored]) -> None:
        """Earlier runs' trials (warm start), inside this space: told as history, never proposed again."""
        self.warm_ids.update(r.config.trial_id for r in records)

    def settings(self) -> dict[str, Any]:
        return {"seed": self.seed}

    @classmethod
    def check_space(cls, space: Space) -> None:
        """What this search asks of a (valid) space: SpecError, one line naming the key, when unmet."""


class _ListSearcher(Searcher):
    """Grid and random: the configurations are fixed up front; tell teaches nothing."""

    def __init__(self, *a, longest_first: bool = True, **kw):
        super().__init__(*a, **kw)
        self._configs = self._build()
        # numbers keep the list order (ties in score go to the lower number, as GridSearchCV's);
        # the ASK order is enqueued first, then longest-first, so the last slot does not idle behind one
        # straggler
        first, rest = self._configs[:len(self.enqueued)], self._configs[len(self.enqueued):]
        self._ask_order = first + (sorted(rest, key=lambda c: -cost_hint(c.params)) if longest_first else rest)
        self._asked: set[int] = set()

    def _build(self) -> list[Config]:
        seen: dict[str, Config] = {}
        for p in [*self.enqueued, *self._params()]:
            tid = trial_id(self.model, p)
            if tid not in seen:
                seen[tid] = Config(len(seen), tid, p)
        return list(seen.values())

    @abstractmethod
    def _params(self) -> list[dict]: ...

    @property
    def total(self) -> int:
        return len(self._configs)

    def ask(self) -> Config | None:
        for c in self._ask_order:  # the first not yet asked (a resume re-asks lost ones)
            if c.number not in self._asked and c.trial_id not in self.warm_ids:
                self._asked.add(c.number)
                return c
        return None

    def tell(self, config, outcome, value=None, budget=None, constraints=None) -> None:
        pass

    def restore(self, records: list[Restored]) -> None:
        # pending ones too: the scheduler re-queues their next rung itself
        by_id = {c.trial_id: c for c in self._configs}
        self._asked.update(by_id[r.config.trial_id].number for r in records if r.config.trial_id in by_id)

    @property
    def configs(self) -> list[Config]:
        return list(self._configs)


class GridSearcher(_ListSearcher):
    name = "grid"
    needs_trials = False

    @classmethod
    def check_space(cls, space: Space) -> None:
        space.grid_axes()  # every parameter a list of values

    def _params(self):
        return self.space.grid()

    def settings(self):
        return {"size": self.total}


class RandomSearcher(_ListSearcher):
    name = "random"

    def _params(self):
        return self.space.sample(self.limit or 0, self.seed)

    def settings(self):
        return {"seed": self.seed, "trials": self.limit}


class OptunaSearcher(Searcher):
    """An Optuna sampler through Optuna's ask/tell API, define-by-run (conditional spaces), one or several
    objectives, constraints as trial constraint values. Subclasses say which sampler (``_sampler``)."""

    MAX_DUPLICATES = 50  # consecutive already-seen proposals before the space counts as exhausted

    def __init__(self, *a, n_startup_trials: int | None = None, **kw):
        super().__init__(*a, **kw)
        import warnings

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # multivariate / constant_liar / GP are marked experimental by Optuna; chosen knowingly
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        self._optuna = optuna
        self.n_startup = n_startup_trials if n_startup_trials is not None else min(10, max(2, (self.limit or 10) // 4))
        self.study = optuna.create_study(directions=["maximize" if g else "minimize" for g in self.directions],
                                         sampler=self._sampler(0))
        self._trial_of: dict[int, Any] = {}  # our number -> optuna Trial (running)
        self._known: dict[str, tuple] = {}  # trial_id -> (outcome, value, constraints) (duplicates)
        self._next = 0  # the next new number
        self._missing: list[int] = []  # numbers asked before a resume but never recorded (lost in flight)
        self._count = 0  # configurations created (restored + asked)
        self._to_enqueue = list(self.enqueued)  # queued in Optuna at the first ask (after any restore)

    def _constraint_values(self, constraints) -> dict[str, float]:
        """``{"c0": violation, ...}`` (Optuna: feasible when every value is <= 0); {} without constraints."""
        vals = list(constraints) if constraints is not None else [0.0] * self.n_constraints
        return {f"c{i}": float(v) for i, v in enumerate(vals[:self.n_constraints])}

    @abstractmethod
    def _sampler(self, number: int): ...

    @property
    def total(self) -> int:
        return int(self.limit or 0)

    def settings(self):
        return {"seed": self.seed, "trials": self.limit, "sampler": type(self.study.sampler).__name__,
                "objectives": len(self.directions), "constraints": self.n_constraints,
                "n_startup_trials": self.n_startup, "optuna": self._optuna.__version__}

    def _enqueue_user_configs(self) -> None:
        for p in self._to_enqueue:
            if trial_id(self.model, p) not in self._known:  # never re-run one this run already has
                self.study.enqueue_trial(self.space.optuna_trial(p)[0], skip_if_exists=False)
        self._to_enqueue = []

    def ask(self) -> Config | None:
        if self._count >= self.total:
            return None
        self._enqueue_user_configs()
        number = self._missing[0] if self._missing else self._next
        for attempt in range(self.MAX_DUPLICATES):
            # a retry after a duplicate draws from another (still reproducible) seed: a sampler whose
            # history a failed duplicate does not change (NSGA-II's parents) would repeat itself
            self.study.sampler = self._sampler(number + attempt * 1_000_003)
            trial = self.study.ask()
            params = self.space.suggest(trial)
            tid = trial_id(self.model, params)
            if tid in self._known or any(c.trial_id == tid for c in self._pending()):
                # the same point again: tell Optuna what we know, ask again (no second run of one config)
                outcome, value, cons = self._known.get(tid, ("failed", None, None))
                self._tell_optuna(trial, outcome, value, None, cons)
                continue
            cfg = Config(number, tid, params)
            if self._missing:
                self._missing.pop(0)
            else:
                self._next += 1
            self._count += 1
            self._trial_of[cfg.number] = (trial, cfg)
            return cfg
        return None  # the space is exhausted (a small discrete space): stop asking

    def _pending(self):
        return [c for _t, c in self._trial_of.values()]

    def report(self, config, value, budget) -> None:
        if config.number in self._trial_of and not self.multi:  # Optuna takes no reports with several
            trial, _ = self._trial_of[config.number]
            trial.report(float(value), step=int(budget))

    def tell(self, config, outcome, value=None, budget=None, constraints=None) -> None:
        self._known[config.trial_id] = (outcome, value, constraints)
        if config.number in self._trial_of:  # not after a drain: that trial was already told (pruned)
            trial, _ = self._trial_of.pop(config.number)
            self._tell_optuna(trial, outcome, value, budget, constraints)

    def _values(self, value) -> list[float] | None:
        vals = list(value) if isinstance(value, (list, tuple)) else [value]
        ok = len(vals) == len(self.directions) and all(v is not None and math.isfinite(v) for v in vals)
        return [float(v) for v in vals] if ok else None

    def _tell_optuna(self, trial, outcome, value, budget, constraints) -> None:
        st = self._optuna.trial.TrialState
        vals = self._values(value) if outcome == "complete" else None
        if vals is not None:
            for k, v in self._constraint_values(constraints).items():
                trial.set_constraint(k, v)
            self.study.tell(trial, vals if self.multi else vals[0])
        elif outcome == "pruned":
            if value is not None and budget is not None and not self.multi:
                try:
                    trial.report(float(value), step=int(budget))
                except Exception:  # noqa: BLE001 - already reported at that step
                    pass
            self.study.tell(trial, state=st.PRUNED)
        else:
            self.study.tell(trial, state=st.FAIL)

    def _frozen(self, r: Restored):
        """A recorded (or warm-start) outcome as an Optuna trial."""
        optuna, st = self._optuna, self._optuna.trial.TrialState
        enc, dists = self.space.optuna_trial(r.config.params)
        state = {"complete": st.COMPLETE, "pruned": st.PRUNED, "failed": st.FAIL}[r.outcome]
        inter = dict(r.intermediate) if not self.multi else {}
        if r.outcome == "pruned" and r.value is not None and not self.multi:
            inter.setdefault(max(inter, default=0) + 1, r.value)
        vals = self._values(r.value) if r.outcome == "complete" else None
        if r.outcome == "complete" and vals is None:
            state = st.FAIL
        cons = self._constraint_values(r.constraints) if state == st.COMPLETE else {}
        return optuna.trial.create_trial(
            params=enc, distributions=dists, state=state, values=vals, constraints=cons or None,
            intermediate_values={int(k): float(v) for k, v in inter.items()})

    def restore(self, records: list[Restored]) -> None:
        for r in sorted(records, key=lambda r: r.config.number):
            if r.outcome == "pending":
                enc, _ = self.space.optuna_trial(r.config.params)
                self.study.enqueue_trial(enc, skip_if_exists=False)
                self.study.sampler = self._sampler(r.config.number)
                trial = self.study.ask()
                self.space.suggest(trial)
                if not self.multi:
                    for step, v in sorted(r.intermediate.items()):
                        trial.report(float(v), step=int(step))
                self._trial_of[r.config.number] = (trial, r.config)
            else:
                self.study.add_trial(self._frozen(r))
                self._known[r.config.trial_id] = (r.outcome, r.value, r.constraints)
            self._next = max(self._next, r.config.number + 1)
        seen = {r.config.number for r in records}
        self._missing = [n for n in range(self._next) if n not in seen]
        self._count = len(seen)

    def warm(self, records: list[Restored]) -> None:
        super().warm(records)
        for r in records:
            if r.config.trial_id not in self._known:
                self.study.add_trial(self._frozen(r))
                self._known[r.config.trial_id] = (r.outcome, r.value, r.constraints)

    @classmethod
    def check_space(cls, space: Space) -> None:
        if not space.has_distribution:
            raise SpecError(f"space: a {cls.name} search needs at least one distribution "
                            f"({', '.join(DISTRIBUTIONS)}); a space of plain lists is a grid: use search.type: grid")


class TPESearcher(OptunaSearcher):
    """Optuna's TPESampler (multi-objective TPE with several objectives): multivariate (grouped over a
    conditional space), constant liar (pending trials get a pessimistic value, so parallel proposals do
    not pile onto one point)."""

    name = "tpe"

    def _sampler(self, number: int):
        return self._optuna.samplers.TPESampler(
            seed=self.seed + number, multivariate=True, group=self.space.conditional, constant_liar=True,
            n_startup_trials=self.n_startup)

    def settings(self):
        return {**super().settings(), "multivariate": True, "constant_liar": True}


class NSGA2Searcher(OptunaSearcher):
    """Optuna's NSGAIISampler: generations of ``population_size`` (a quarter of the trials, 4 to 50)."""

    name = "nsga2"

    @property
    def population(self) -> int:
        return max(4, min(50, int(self.limit or 40) // 4))

    def _sampler(self, number: int):
        return self._optuna.samplers.NSGAIISampler(population_size=self.population, seed=self.seed + number)

    def settings(self):
        return {**super().settings(), "population_size": self.population}


class GPSearcher(OptunaSearcher):
    """Optuna's GPSampler (Gaussian process, one or several objectives, constraints)."""

    name = "gp"

    def _sampler(self, number: int):
        return self._optuna.samplers.GPSampler(seed=self.seed + number, n_startup_trials=self.n_startup,
                                               warn_independent_sampling=False)


# the registry: the spec's search types (spec.SEARCH_TYPES) derive from it
SEARCHERS: dict[str, type[Searcher]] = {c.name: c for c in (GridSearcher, RandomSearcher, TPESearcher,
                                                             NSGA2Searcher, GPSearcher)}


def make_searcher(kind: str, model: str, space: dict | Space, trials: int | None, seed: int,
                  greater_is_better: bool, **kw) -> Searcher:
    """``kw``: ``directions`` (several objectives), ``n_constraints``, ``enqueue`` (see :class:`Searcher`)."""
    return SEARCHERS[kind](model, space, trials, seed, greater_is_better, **kw)
