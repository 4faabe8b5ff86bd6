"""The search-space model: one class per distribution, each validating, sampling, enumerating, converting
to Optuna and describing itself; :class:`Space` holds a whole space; trial ids hash a configuration.

A spec's ``space:`` maps parameter names to one of these spellings (the YAML format; :func:`parse_space`
reads it, ``to_spec()`` writes it back)::

    max_depth: [3, 6, null]                 # Choice: a plain list (the only form a grid search takes)
    criterion: {choice: [gini, entropy]}    # Choice
    bootstrap: true                         # Choice of one value: fixed (a bare value)
    max_features: {uniform: [0.3, 1.0]}     # Uniform: a float in [low, high]
    learning_rate: {loguniform: [1e-3, 1]}  # LogUniform: a float, uniform on a log scale (low > 0)
    n_estimators: {int: [10, 300]}          # Int: an integer in [low, high], both included

In Python, ``hyperspark.randint(10, 300)`` (alias ``hyperspark.int``), ``uniform``, ``loguniform`` and
``choice`` return those same dicts, so a space built in Python and one read from YAML are the same thing.

Adding a distribution: a :class:`Distribution` subclass and its line in ``DISTRIBUTIONS``; the spec's
validation, the searchers and the report go through this module. (A conditional sub-space would be one
more subclass whose ``sample`` / ``grid_values`` yield nested dicts.)

This module sits below ``hyperspark.job`` and ``hyperspark.ops``: it imports neither, nor pyspark;
optuna only inside the ``to_optuna`` methods.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from hyperspark.errors import SpecError

__all__ = [
    "Distribution", "Choice", "Uniform", "LogUniform", "Int", "DISTRIBUTIONS", "Space", "parse_space", "parse_dim",
    "trial_id", "canonical", "plain", "cost_hint", "randint", "int", "uniform", "loguniform", "choice",
]


# ------------------------------------------------------------------------------------- values and ids
def plain(v):
    """``v`` with numpy scalars made Python ones and tuples made lists (JSON's own types)."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def canonical(params: dict) -> str:
    return json.dumps(plain(params), sort_keys=True, separators=(",", ":"))


def trial_id(model: str, params: dict) -> str:
    """Stable across runs, machines and dict order: sha1 of the model key and canonical JSON params.

    Never change this: a resumed run finds its finished trials by these ids."""
    return hashlib.sha1(f"{model}|{canonical(params)}".encode()).hexdigest()[:12]


def cost_hint(params: dict) -> float:
    """A proxy for how long a trial takes: the product of its positive numeric params.

    Used only to dispatch long trials first (longest-processing-time scheduling), which keeps the
    last slot from idling on one long straggler. It never changes results.
    """
    c = 1.0
    for v in params.values():
        if _is_num(v) and v > 0:
            c *= float(v)
    return c


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# ------------------------------------------------------------------------------------- distributions
class Distribution(ABC):
    """One parameter's distribution. Describes itself with ``kind``, ``log``, ``low``, ``high`` and
    ``choices`` (None where they do not apply)."""

    kind: ClassVar[str]  # the spec's key ({kind: ...}) and the registry's
    log: bool = False
    low: Any = None
    high: Any = None
    choices: tuple | None = None

    @classmethod
    @abstractmethod
    def from_spec(cls, arg) -> Distribution:
        """From the value under the spec's ``{kind: arg}``; SpecError when it is malformed."""

    @abstractmethod
    def to_spec(self) -> Any:
        """The spec's spelling (``parse_dim(name, d.to_spec())`` gives back an equal distribution)."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """One draw."""

    def grid_values(self) -> list:
        """The values a grid search tries: only a plain list (or a bare value) has them."""
        raise SpecError(f"a grid search takes a list of values, not a distribution ({self.kind}); "
                        "use search.type: random")

    @property
    def literal(self) -> bool:
        """Written literally, as a list of values or a bare value (what a grid search takes), not as
        ``{kind: ...}``."""
        return False

    @property
    def fixed(self) -> bool:
        """One possible value: searchers set it and do not search it."""
        return False

    @abstractmethod
    def to_optuna(self):
        """The Optuna distribution (optuna is imported here, lazily)."""

    def from_optuna(self, raw) -> Any:
        """Optuna's value (``trial.params[name]``) -> the parameter's value."""
        return plain(raw)

    def to_optuna_value(self, value) -> Any:
        """The parameter's value -> Optuna's (for ``create_trial`` / ``enqueue_trial``)."""
        return value

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash((type(self).__name__, json.dumps(self.to_spec(), sort_keys=True, default=str)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_spec()!r})"


class Choice(Distribution):
    """One of ``choices``, each equally likely. ``form`` is how the spec spells it: ``"list"`` (a plain
    list), ``"choice"`` (``{choice: [...]}``) or ``"value"`` (a bare value: a fixed parameter, which
    draws nothing from the generator, so it does not shift the other parameters' draws)."""

    kind = "choice"
    FORMS = ("list", "choice", "value")

    def __init__(self, choices: Sequence, *, form: str = "list"):
        if form not in self.FORMS:
            raise ValueError(f"form must be one of {', '.join(self.FORMS)}, got {form!r}")
        if form == "value":
            choices = [choices]
        elif isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise SpecError("choice needs a non-empty list")
        elif not choices:
            raise SpecError("empty list of values" if form == "list" else "choice needs a non-empty list")
        self.choices = tuple(choices)
        self.form = form

    @classmethod
    def from_spec(cls, arg) -> Choice:
        if not isinstance(arg, list) or not arg:
            raise SpecError("choice needs a non-empty list")
        return cls(arg, form="choice")

    def to_spec(self):
        if self.form == "value":
            return self.choices[0]
        return list(self.choices) if self.form == "list" else {"choice": list(self.choices)}

    def sample(self, rng):
        if self.form == "value":
            return plain(self.choices[0])
        return plain(self.choices[int(rng.integers(len(self.choices)))])

    def grid_values(self) -> list:
        if not self.literal:
            return super().grid_values()
        return list(self.choices)

    @property
    def literal(self) -> bool:
        return self.form != "choice"

    @property
    def fixed(self) -> bool:
        return len(self.choices) == 1

    def to_optuna(self):
        # over the index of each value: values may be lists or None, which Optuna's categorical does not take
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(list(range(len(self.choices))))

    def from_optuna(self, raw):
        return plain(self.choices[raw])

    def to_optuna_value(self, value):
        for i, c in enumerate(self.choices):
            if plain(c) == value:
                return i
        raise ValueError(f"{value!r} is not one of the choices {list(self.choices)}")


class _Range(Distribution):
    """Numbers between ``low`` and ``high`` (both included)."""

    def __init__(self, low, high):
        if not (_is_num(low) and _is_num(high)):
            raise SpecError(f"{self.kind} needs [low, high]")
        if low > high:
            raise SpecError(f"{self.kind} low {low} is above high {high}")
        self.low, self.high = low, high
        self._check()

    def _check(self) -> None:
        """Further conditions on the bounds (SpecError)."""

    @classmethod
    def from_spec(cls, arg):
        if not (isinstance(arg, list) and len(arg) == 2):
            raise SpecError(f"{cls.kind} needs [low, high]")
        return cls(*arg)

    def to_spec(self) -> dict:
        return {self.kind: [self.low, self.high]}


class _Float(_Range):
    def to_optuna(self):
        from optuna.distributions import FloatDistribution

        return FloatDistribution(float(self.low), float(self.high), log=self.log)


class Uniform(_Float):
    """A float drawn uniformly from [low, high]."""

    kind = "uniform"

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))


class LogUniform(_Float):
    """A float drawn uniformly on a log scale from [low, high] (low > 0)."""

    kind = "loguniform"
    log = True

    def _check(self) -> None:
        if self.low <= 0:
            raise SpecError("loguniform needs low > 0")

    def sample(self, rng):
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


class Int(_Range):
    """An integer drawn uniformly from [low, high] (both included). The spec has no log-scale integer."""

    kind = "int"

    def _check(self) -> None:
        if not (isinstance(self.low, int) and isinstance(self.high, int)):
            raise SpecError("int needs integer bounds")

    def sample(self, rng):
        return int(rng.integers(self.low, self.high + 1))

    def to_optuna(self):
        from optuna.distributions import IntDistribution

        return IntDistribution(int(self.low), int(self.high))


# the registry: every list of distribution names derives from it
DISTRIBUTIONS: dict[str, type[Distribution]] = {c.kind: c for c in (Choice, Uniform, LogUniform, Int)}


def parse_dim(name: str, dim: Any) -> Distribution:
    """One parameter's spec value -> its distribution; SpecError ``space.<name>: ...`` when malformed."""
    try:
        if isinstance(dim, list):
            return Choice(dim, form="list")
        if isinstance(dim, dict):
            if len(dim) != 1 or next(iter(dim)) not in DISTRIBUTIONS:
                raise SpecError(f"a distribution is one of {{{', '.join(DISTRIBUTIONS)}: ...}}, got {dim}")
            kind, arg = next(iter(dim.items()))
            return DISTRIBUTIONS[kind].from_spec(arg)
        return Choice(dim, form="value")  # a bare value: fixed
    except SpecError as e:
        raise SpecError(f"space.{name}: {e}") from None


def parse_space(space: Mapping[str, Any]) -> dict[str, Distribution]:
    """A spec's ``space`` dict -> ``{name: Distribution}`` in the spec's order; SpecError when invalid
    (one line naming the parameter)."""
    if not isinstance(space, Mapping):
        raise SpecError(f"space: expected a mapping of parameter names to values, got {type(space).__name__}")
    if not space:
        raise SpecError("search space is empty: give at least one parameter")
    return {str(name): parse_dim(str(name), dim) for name, dim in space.items()}


# ------------------------------------------------------------------------------------- a whole space
class Space(Mapping[str, Distribution]):
    """A whole search space: ``{name: Distribution}`` in the spec's order, and what searchers ask of it."""

    def __init__(self, dims: Mapping[str, Distribution]):
        self._dims = dict(dims)

    @classmethod
    def from_spec(cls, space: Mapping[str, Any] | Space) -> Space:
        """From the spec's ``space`` dict (validated, SpecError) or an existing Space."""
        return space if isinstance(space, Space) else cls(parse_space(space))

    def to_spec(self) -> dict:
        return {name: d.to_spec() for name, d in self._dims.items()}

    def __getitem__(self, name: str) -> Distribution:
        return self._dims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dims)

    def __len__(self) -> int:
        return len(self._dims)

    def __repr__(self) -> str:
        return f"Space({self._dims!r})"

    # -- random ----------------------------------------------------------------------------------
    def sample(self, n: int, seed: int) -> list[dict]:
        """``n`` draws, reproducible from ``seed`` (duplicates kept: the searcher drops them by trial id).

        Draw order is fixed: configuration by configuration, parameters in the spec's order, from one
        ``numpy.random.default_rng(seed)``; a random search's trials (and their ids) depend on it."""
        rng = np.random.default_rng(seed)
        return [{name: d.sample(rng) for name, d in self._dims.items()} for _ in range(n)]

    # -- grid ------------------------------------------------------------------------------------
    def grid_axes(self) -> list[tuple[str, list]]:
        """``(name, values)`` per parameter, names sorted; SpecError when a parameter is not a list."""
        axes = []
        for name in sorted(self._dims):
            try:
                axes.append((name, self._dims[name].grid_values()))
            except SpecError as e:
                raise SpecError(f"space.{name}: {e}") from None
        return axes

    def grid(self) -> list[dict]:
        """The Cartesian product over the parameter names in sorted order, i.e. scikit-learn's
        ParameterGrid order, so that ties between equal scores go to the same candidate as GridSearchCV's."""
        axes = self.grid_axes()
        names = [n for n, _ in axes]
        return [dict(zip(names, plain(list(combo)))) for combo in itertools.product(*(v for _, v in axes))]

    # -- Optuna ----------------------------------------------------------------------------------
    @property
    def has_distribution(self) -> bool:
        """Some parameter is written as ``{kind: ...}`` (what a model-based search such as TPE needs)."""
        return any(not d.literal for d in self._dims.values())

    def fixed_params(self) -> dict:
        """The parameters with one possible value, which a searcher sets rather than searches."""
        return {name: plain(d.choices[0]) for name, d in self._dims.items() if d.fixed}

    def to_optuna(self) -> dict:
        """``{name: optuna distribution}`` for the searched (not fixed) parameters."""
        return {name: d.to_optuna() for name, d in self._dims.items() if not d.fixed}

    def from_optuna(self, raw: dict) -> dict:
        """Optuna's ``trial.params`` -> a configuration, fixed parameters included, in the spec's order."""
        fixed = self.fixed_params()
        return {name: fixed[name] if name in fixed else self._dims[name].from_optuna(raw[name])
                for name in self._dims}

    def to_optuna_params(self, params: dict) -> dict:
        """A configuration -> Optuna's params for the searched parameters (restoring recorded trials)."""
        return {name: d.to_optuna_value(params[name]) for name, d in self._dims.items() if not d.fixed}


# ------------------------------------------------------------------------------------- Python helpers
def randint(low, high) -> dict:
    """An integer drawn uniformly from [low, high] (both included): the spec's ``{int: [low, high]}``."""
    return {Int.kind: [low, high]}


def uniform(low, high) -> dict:
    """A float drawn uniformly from [low, high]: the spec's ``{uniform: [low, high]}``."""
    return {Uniform.kind: [low, high]}


def loguniform(low, high) -> dict:
    """A float drawn uniformly on a log scale from [low, high] (low > 0): ``{loguniform: [low, high]}``."""
    return {LogUniform.kind: [low, high]}


def choice(*values) -> dict:
    """One of ``values``: ``choice("gini", "entropy")`` or ``choice(["gini", "entropy"])``."""
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        values = values[0]
    return {Choice.kind: list(values)}


def __getattr__(name: str):
    # ``hyperspark.int`` mirrors the spec's {int: ...}; served here so the builtin ``int`` stays unshadowed
    # inside this module
    if name == "int":
        return randint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
