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

A ``choice`` whose options are a MAPPING of branch name -> sub-space is a conditional parameter
(:class:`Conditional`), nested to any depth::

    kernel:
      choice:
        rbf:    {gamma: {loguniform: [1e-4, 1]}}
        poly:   {degree: {int: [2, 5]}, coef0: {uniform: [0, 1]}}
        linear: {}

A configuration stays FLAT: the branch name is the parameter's value and the chosen branch's own
parameters sit beside it (``{"kernel": "rbf", "gamma": 0.01}``); an unchosen branch's parameters are
absent, so trial ids hash exactly the params used. Grid enumerates each branch's own grid (the union
over branches), random draws the branch then its sub-space, Optuna suggests define-by-run (a branch's
parameters are named ``kernel[rbf].gamma`` inside Optuna, so branches never share a distribution).
A sub-parameter may not repeat a name of an enclosing level (the flat configuration would be ambiguous).

In Python, ``hyperspark.randint(10, 300)`` (alias ``hyperspark.int``), ``uniform``, ``loguniform`` and
``choice`` return those same dicts, so a space built in Python and one read from YAML are the same thing.

Adding a distribution: a :class:`Distribution` subclass and its line in ``DISTRIBUTIONS``. A grid's size is
checked (:data:`GRID_LIMIT`) before any configuration is built. Imports neither job/ nor ops/, nor pyspark.
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

GRID_LIMIT = 100_000  #: the most configurations a grid enumerates (more: a SpecError before any is built)

__all__ = [
    "Distribution", "Choice", "Conditional", "Uniform", "LogUniform", "Int", "DISTRIBUTIONS", "Space", "parse_space", "parse_dim",
    "trial_id", "canonical", "plain", "cost_hint", "randint", "int", "uniform", "loguniform", "choice", "GRID_LIMIT"]


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

    def contains(self, value) -> bool:  # could it have produced ``value``? (warm starts skip the rest)
        return False

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

    def contains(self, value) -> bool:
        return any(plain(c) == value and type(plain(c)) is type(value) for c in self.choices)


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

    def contains(self, value) -> bool:
        return _is_num(value) and self.low <= value <= self.high


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

    def contains(self, value) -> bool:
        return isinstance(value, int) and super().contains(value)

    def to_optuna(self):
        from optuna.distributions import IntDistribution

        return IntDistribution(int(self.low), int(self.high))


class Conditional(Distribution):
    """A choice between named branches, each with its own sub-space (``{choice: {name: {...}, ...}}``).

    Its value is the branch name; the branch's parameters join the configuration beside it (flat).
    ``branches`` maps each name to a :class:`Space` (``{}``: a branch with no parameters of its own)."""

    kind = "choice"

    def __init__(self, branches: Mapping[str, Any], path: str = ""):
        if not isinstance(branches, Mapping) or not branches:
            raise SpecError("choice needs a non-empty list, or a mapping of branch names to their sub-spaces")
        bad = [b for b in branches if not isinstance(b, str)]
        if bad:
            raise SpecError(f"branch names must be strings, got {bad[0]!r} ({type(bad[0]).__name__}); quote it")
        self.branches: dict[str, Space] = {}
        for b, sub in branches.items():
            if sub is None or not isinstance(sub, Mapping):
                raise SpecError(f"space.{path}.{b}: a branch is a mapping of its own parameters ({{}} for none), "
                                f"got {'nothing' if sub is None else type(sub).__name__}")
            where = f"{path}.{b}" if path else b
            self.branches[b] = Space({str(n): parse_dim(str(n), d, where) for n, d in sub.items()}, where)
        self.choices = tuple(self.branches)

    @classmethod
    def from_spec(cls, arg) -> Conditional:
        return cls(arg)

    def to_spec(self) -> dict:
        return {"choice": {b: sp.to_spec() for b, sp in self.branches.items()}}

    def sample(self, rng):
        return self.choices[int(rng.integers(len(self.choices)))] if len(self.choices) > 1 else self.choices[0]

    @property
    def literal(self) -> bool:
        """A grid takes it when every branch's parameters are lists or bare values."""
        return all(not sp.has_distribution for sp in self.branches.values())

    @property
    def fixed(self) -> bool:
        return len(self.choices) == 1

    def to_optuna(self):
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(list(self.choices))

    def contains(self, value) -> bool:
        return isinstance(value, str) and value in self.branches

    def names(self) -> set[str]:
        """Every parameter name below this choice, at any depth."""
        return set().union(*(sp.all_names() for sp in self.branches.values()))


# the registry: every list of distribution names derives from it ({choice: {mapping}} is a Conditional)
DISTRIBUTIONS: dict[str, type[Distribution]] = {c.kind: c for c in (Choice, Uniform, LogUniform, Int)}


def parse_dim(name: str, dim: Any, path: str = "") -> Distribution:
    """One parameter's spec value -> its distribution; SpecError ``space.<path>.<name>: ...`` when malformed
    (``path``: the enclosing branches, ``kernel.rbf``, for a parameter of a conditional sub-space)."""
    where = f"{path}.{name}" if path else name
    try:
        if isinstance(dim, list):
            return Choice(dim, form="list")
        if isinstance(dim, dict):
            if len(dim) != 1 or next(iter(dim)) not in DISTRIBUTIONS:
                raise SpecError(f"a distribution is one of {{{', '.join(DISTRIBUTIONS)}: ...}}, got {dim}")
            kind, arg = next(iter(dim.items()))
            if kind == Choice.kind and isinstance(arg, Mapping):
                return Conditional(arg, where)
            return DISTRIBUTIONS[kind].from_spec(arg)
        return Choice(dim, form="value")  # a bare value: fixed
    except SpecError as e:
        msg = str(e)
        raise SpecError(msg if msg.startswith("space.") else f"space.{where}: {msg}") from None


def parse_space(space: Mapping[str, Any]) -> dict[str, Distribution]:
    """A spec's ``space`` dict -> ``{name: Distribution}`` in the spec's order; SpecError when invalid
    (one line naming the parameter)."""
    if not isinstance(space, Mapping):
        raise SpecError(f"space: expected a mapping of parameter names to values, got {type(space).__name__}")
    if not space:
        raise SpecError("search space is empty: give at least one parameter")
    dims = {str(name): parse_dim(str(name), dim) for name, dim in space.items()}
    _check_names(dims, set(), "")
    return dims


def _check_names(dims: Mapping[str, Distribution], above: set[str], path: str) -> None:
    """A branch's parameter may not repeat a name of an enclosing level (configurations are flat)."""
    here = set(dims) | above
    for name, d in dims.items():
        if isinstance(d, Conditional):
            for b, sp in d.branches.items():
                where = f"{path}.{name}.{b}" if path else f"{name}.{b}"
                clash = sorted(set(sp) & (here | {name}))
                if clash:
                    raise SpecError(f"space.{where}.{clash[0]}: also a parameter of an enclosing level; "
                                    "a configuration is flat, so give it another name")
                _check_names(sp._dims, here, where)


# ------------------------------------------------------------------------------------- a whole space
class Space(Mapping[str, Distribution]):
    """A whole search space: ``{name: Distribution}`` in the spec's order, and what searchers ask of it."""

    def __init__(self, dims: Mapping[str, Distribution], path: str = ""):
        self._dims = dict(dims)
        self._path = path  # a conditional branch's sub-space: where it sits (``kernel.rbf``), for errors

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

    def all_names(self) -> set[str]:
        """Every parameter name, those of conditional branches included (at any depth)."""
        out = set(self._dims)
        for d in self._dims.values():
            if isinstance(d, Conditional):
                out |= d.names()
        return out

    conditional = property(lambda self: any(isinstance(d, Conditional) for d in self._dims.values()))

    # -- random ----------------------------------------------------------------------------------
    def sample(self, n: int, seed: int) -> list[dict]:
        """``n`` draws, reproducible from ``seed`` (duplicates kept: the searcher drops them by trial id).

        Draw order is fixed: configuration by configuration, parameters in the spec's order (a conditional
        parameter's branch, then that branch's parameters), from one ``numpy.random.default_rng(seed)``;
        a random search's trials (and their ids) depend on it."""
        rng = np.random.default_rng(seed)
        return [self.draw(rng) for _ in range(n)]

    def draw(self, rng: np.random.Generator) -> dict:
        out: dict = {}
        for name, d in self._dims.items():
            out[name] = v = d.sample(rng)
            if isinstance(d, Conditional):
                out.update(d.branches[v].draw(rng))
        return out

    # -- grid ------------------------------------------------------------------------------------
    def grid_axes(self) -> list[tuple[str, list]]:
        """``(name, values)`` per parameter, names sorted, each value a partial configuration (a
        conditional parameter's values carry their branch's parameters); SpecError when a parameter
        is not a list."""
        axes = []
        for name in sorted(self._dims):
            d = self._dims[name]
            try:
                if isinstance(d, Conditional):
                    vals = [{name: b, **sub} for b, sp in d.branches.items() for sub in sp.grid()]
                else:
                    vals = [{name: v} for v in plain(list(d.grid_values()))]
            except SpecError as e:
                msg, where = str(e), f"{self._path}.{name}" if self._path else name
                raise SpecError(msg if msg.startswith("space.") else f"space.{where}: {msg}") from None
            axes.append((name, vals))
        if (size := math.prod(len(v) for _, v in axes)) > GRID_LIMIT:  # counted before any product is built
            raise SpecError(f"space: the grid has {size:,} configurations, over the limit of {GRID_LIMIT:,}; "
                            "use search.type: random or tpe with search.trials")
        return axes

    def grid(self) -> list[dict]:
        """The Cartesian product over the parameter names in sorted order, i.e. scikit-learn's
        ParameterGrid order, so that ties between equal scores go to the same candidate as GridSearchCV's.
        A conditional parameter contributes each branch's own grid (exactly the branches' products)."""
        axes = self.grid_axes()
        out = []
        for combo in itertools.product(*(v for _, v in axes)):
            cfg: dict = {}
            for part in combo:
                cfg.update(part)
            out.append(cfg)
        return out

    # -- Optuna ----------------------------------------------------------------------------------
    @property
    def has_distribution(self) -> bool:
        """Some parameter is written as ``{kind: ...}`` (what a model-based search such as TPE needs)."""
        return any(not d.literal or isinstance(d, Conditional) for d in self._dims.values())

    def fixed_params(self) -> dict:
        """The parameters with one possible value, which a searcher sets rather than searches."""
        return {name: plain(d.choices[0]) for name, d in self._dims.items() if d.fixed}

    def to_optuna(self) -> dict:
        """``{name: optuna distribution}`` for the searched (not fixed) parameters (unconditional spaces)."""
        return {name: d.to_optuna() for name, d in self._dims.items() if not d.fixed}

    def from_optuna(self, raw: dict) -> dict:
        """Optuna's ``trial.params`` -> a configuration, fixed parameters included, in the spec's order."""
        return self._walk_optuna({}, lambda key, d: raw[key], "")

    def suggest(self, trial) -> dict:
        """Define-by-run: ask an Optuna trial for each parameter (a conditional one's chosen branch only)."""
        return self._walk_optuna({}, lambda key, d: trial._suggest(key, d.to_optuna()), "")

    def _walk_optuna(self, out: dict, get, prefix: str) -> dict:
        for name, d in self._dims.items():
            key = prefix + name
            out[name] = v = plain(d.choices[0]) if d.fixed else d.from_optuna(get(key, d))
            if isinstance(d, Conditional):
                d.branches[v]._walk_optuna(out, get, f"{key}[{v}].")
        return out

    def optuna_trial(self, params: Mapping) -> tuple[dict, dict]:
        """A configuration -> (Optuna's params, their distributions), the chosen branches' only (restoring
        recorded trials, warm starts, enqueued ones). KeyError/ValueError when it is not of this space."""
        vals, dists = {}, {}
        self._encode(params, vals, dists, "")
        return vals, dists

    def _encode(self, params: Mapping, vals: dict, dists: dict, prefix: str) -> None:
        for name, d in self._dims.items():
            key = prefix + name
            if not d.fixed:
                vals[key], dists[key] = d.to_optuna_value(params[name]), d.to_optuna()
            if isinstance(d, Conditional):
                d.branches[params[name]]._encode(params, vals, dists, f"{key}[{params[name]}].")

    def to_optuna_params(self, params: dict) -> dict:
        return self.optuna_trial(params)[0]

    def contains(self, params: Mapping) -> bool:
        """Is ``params`` a configuration of this space: exactly the parameters of its chosen branches, each
        a value its distribution could produce? (warm starts skip the ones outside)"""
        used = set()
        return self._contains(params, used) and used == set(params)

    def _contains(self, params: Mapping, used: set) -> bool:
        for name, d in self._dims.items():
            if name not in params or not d.contains(params[name]):
                return False
            used.add(name)
            if isinstance(d, Conditional) and not d.branches[params[name]]._contains(params, used):
                return False
        return True


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
    """One of ``values``: ``choice("gini", "entropy")`` or ``choice(["gini", "entropy"])``; or, given ONE
    mapping of branch name -> sub-space, a conditional parameter: ``choice({"rbf": {"gamma":
    loguniform(1e-4, 1)}, "linear": {}})`` (the spec's ``{choice: {rbf: {...}, linear: {}}}``)."""
    if len(values) == 1 and isinstance(values[0], Mapping):
        return {Choice.kind: {k: dict(v) if isinstance(v, Mapping) else v for k, v in values[0].items()}}
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        values = values[0]
    return {Choice.kind: list(values)}


def __getattr__(name: str):
    # ``hyperspark.int`` mirrors the spec's {int: ...}; served here so the builtin ``int`` stays unshadowed
    # inside this module
    if name == "int":
        return randint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
