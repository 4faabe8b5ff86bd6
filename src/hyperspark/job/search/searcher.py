"""Search algorithms behind one ask/tell seam: grid, random and TPE (Optuna's TPESampler).

A searcher proposes configurations (``ask``) and learns from their outcomes (``tell``). It knows nothing
about Spark, budgets or slots: the scheduler (``scheduler.py``) decides what runs at which budget, and the
in-flight loop (``loop.py``) keeps the slots busy.

Adding a search algorithm: subclass :class:`Searcher` (implement ``ask``/``tell``/``restore``; say what it
asks of a spec with ``needs_trials`` and ``check_space``) and add its line to ``SEARCHERS``: the spec's
``search.type`` (``spec.SEARCH_TYPES``) derives from that registry.

Reproducibility: a configuration's proposal depends only on the seed, its number and the outcomes told
before it was asked. TPE reseeds its sampler per number (``seed + number``), so a run resumed from
``trials.jsonl`` (outcomes restored, then asked on) proposes what the uninterrupted run would have.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

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
    value: float | None = None  # complete: the final score; pruned: the last rung's score
    intermediate: dict[int, float] = field(default_factory=dict)  # budget -> score, rungs below the last


class Searcher(ABC):
    name: ClassVar[str] = "?"
    needs_trials: ClassVar[bool] = True  # the spec must say search.trials (how many configurations)

    def __init__(self, model: str, space: dict | Space, trials: int | None, seed: int, greater_is_better: bool):
        self.model = model
        self.space = Space.from_spec(space)
        self.seed = seed
        self.greater_is_better = greater_is_better
        self.limit = trials

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
    def tell(self, config: Config, outcome: Outcome, value: float | None = None, budget: int | None = None) -> None:
        """The configuration's final outcome: complete (value), pruned (last value at budget) or failed."""

    @abstractmethod
    def restore(self, records: list[Restored]) -> None:
        """Replay recorded outcomes (resume) so that asks go on where the recorded run stopped."""

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
        # the ASK order is longest-first, so the last slot does not idle behind one straggler
        self._ask_order = (sorted(self._configs, key=lambda c: -cost_hint(c.params)) if longest_first
                           else list(self._configs))
        self._asked: set[int] = set()

    def _build(self) -> list[Config]:
        seen: dict[str, Config] = {}
        for p in self._params():
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
            if c.number not in self._asked:
                self._asked.add(c.number)
                return c
        return None

    def tell(self, config, outcome, value=None, budget=None) -> None:
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


class TPESearcher(Searcher):
    """Optuna's TPESampler through its ask/tell API: multivariate, constant liar (pending trials are
    given a pessimistic value, so parallel proposals do not pile onto one point)."""

    name = "tpe"
    MAX_DUPLICATES = 50  # consecutive already-seen proposals before the space counts as exhausted

    def __init__(self, *a, n_startup_trials: int | None = None, **kw):
        super().__init__(*a, **kw)
        import warnings

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # multivariate / constant_liar are marked experimental by Optuna; they are what we choose, knowingly
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        self._optuna = optuna
        self.n_startup = n_startup_trials if n_startup_trials is not None else min(10, max(2, (self.limit or 10) // 4))
        self._dists = self.space.to_optuna()  # the searched parameters (fixed ones are set, not searched)
        self.study = optuna.create_study(direction="maximize" if self.greater_is_better else "minimize",
                                         sampler=self._sampler(0))
        self._trial_of: dict[int, Any] = {}  # our number -> optuna Trial (running)
        self._known: dict[str, tuple[Outcome, float | None]] = {}  # trial_id -> last outcome (duplicates)
        self._next = 0  # the next new number
        self._missing: list[int] = []  # numbers asked before a resume but never recorded (lost in flight)
        self._count = 0  # configurations created (restored + asked)

    def _sampler(self, number: int):
        return self._optuna.samplers.TPESampler(
            seed=self.seed + number, multivariate=True, constant_liar=True, n_startup_trials=self.n_startup)

    @property
    def total(self) -> int:
        return int(self.limit or 0)

    def settings(self):
        return {"seed": self.seed, "trials": self.limit, "sampler": "TPESampler", "multivariate": True,
                "constant_liar": True, "n_startup_trials": self.n_startup,
                "optuna": self._optuna.__version__}

    def ask(self) -> Config | None:
        if self._count >= self.total:
            return None
        number = self._missing[0] if self._missing else self._next
        for _ in range(self.MAX_DUPLICATES):
            self.study.sampler = self._sampler(number)
            trial = self.study.ask(self._dists)
            params = self.space.from_optuna(trial.params)
            tid = trial_id(self.model, params)
            if tid in self._known or any(c.trial_id == tid for c in self._pending()):
                # the same point again: tell Optuna what we know, ask again (no second run of one config)
                outcome, value = self._known.get(tid, ("failed", None))
                self._tell_optuna(trial, outcome, value, None)
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
        if config.number in self._trial_of:
            trial, _ = self._trial_of[config.number]
            trial.report(float(value), step=int(budget))

    def tell(self, config, outcome, value=None, budget=None) -> None:
        self._known[config.trial_id] = (outcome, value)
        if config.number in self._trial_of:  # not after a drain: that trial was already told (pruned)
            trial, _ = self._trial_of.pop(config.number)
            self._tell_optuna(trial, outcome, value, budget)

    def _tell_optuna(self, trial, outcome, value, budget) -> None:
        st = self._optuna.trial.TrialState
        if outcome == "complete" and value is not None and math.isfinite(value):
            self.study.tell(trial, float(value))
        elif outcome == "pruned":
            if value is not None and budget is not None:
                try:
                    trial.report(float(value), step=int(budget))
                except Exception:  # noqa: BLE001 - already reported at that step
                    pass
            self.study.tell(trial, state=st.PRUNED)
        else:
            self.study.tell(trial, state=st.FAIL)

    def restore(self, records: list[Restored]) -> None:
        optuna = self._optuna
        st = optuna.trial.TrialState
        for r in sorted(records, key=lambda r: r.config.number):
            enc = self.space.to_optuna_params(r.config.params)
            if r.outcome == "pending":
                self.study.enqueue_trial(enc, skip_if_exists=False)
                trial = self.study.ask(self._dists)
                for step, v in sorted(r.intermediate.items()):
                    trial.report(float(v), step=int(step))
                self._trial_of[r.config.number] = (trial, r.config)
            else:
                state = {"complete": st.COMPLETE, "pruned": st.PRUNED, "failed": st.FAIL}[r.outcome]
                inter = dict(r.intermediate)
                if r.outcome == "pruned" and r.value is not None:
                    inter.setdefault(max(inter, default=0) + 1, r.value)
                self.study.add_trial(optuna.trial.create_trial(
                    params=enc, distributions=self._dists, state=state,
                    value=r.value if r.outcome == "complete" else None,
                    intermediate_values={int(k): float(v) for k, v in inter.items()}))
                self._known[r.config.trial_id] = (r.outcome, r.value)
            self._next = max(self._next, r.config.number + 1)
        seen = {r.config.number for r in records}
        self._missing = [n for n in range(self._next) if n not in seen]
        self._count = len(seen)

    @classmethod
    def check_space(cls, space: Space) -> None:
        if not space.has_distribution:
            raise SpecError(f"space: a tpe search needs at least one distribution ({', '.join(DISTRIBUTIONS)}); "
                            "a space of plain lists is a grid: use search.type: grid")


# the registry: the spec's search types (spec.SEARCH_TYPES) derive from it
SEARCHERS: dict[str, type[Searcher]] = {c.name: c for c in (GridSearcher, RandomSearcher, TPESearcher)}


def make_searcher(kind: str, model: str, space: dict | Space, trials: int | None, seed: int,
                  greater_is_better: bool) -> Searcher:
    return SEARCHERS[kind](model, space, trials, seed, greater_is_better)
