"""Several objectives and constraints: THE home of their rules (the job, the API, results and the report
all call these, nothing computes a front twice).

* :class:`Constraint` / :func:`parse_constraint`: ``"model_bytes <= 5e6"`` (``name op number``, ops
  ``<= < >= > ==``), read by a regular expression, never ``eval``'d. A violation is a number, > 0 when
  broken (Optuna's ``constraints_func`` convention), ``0`` when met.
* :class:`Objectives`: the spec's ``objectives`` (or its one metric) and ``constraints``; reads a row's
  value for each (``row.metrics``, the CV mean for the scored metric, ``fit_seconds`` measured by the job),
  and annotates a row with ``feasible`` and ``violations``.
* :func:`non_dominated_sort`, :func:`crowding_distance`, :func:`rank_order`: NSGA-II's ordering (front
  first, then larger crowding distance), used by multi-objective ASHA's promotions and by :func:`front`.
* :func:`front`: the Pareto front of a run's final rows (feasible only), :func:`choose` the one row a refit
  takes (``select``), :func:`hypervolume` (Optuna's).

Imports only the standard library and ``protocol``; Optuna only inside :func:`hypervolume`.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from hyperspark.job.protocol import TrialResult, final_rows

#: costs the job measures per trial (single-machine models): seconds per fit (mean over folds),
#: milliseconds to predict 1,000 rows, the pickled model's bytes
COSTS = ("fit_seconds", "predict_ms", "model_bytes")
_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_CONSTRAINT = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|==|<|>)\s*({_NUMBER})\s*$")
_STRICT = 1e-12  # a strict bound met with equality still counts as broken, by this much


@dataclass(frozen=True)
class Constraint:
    name: str
    op: str
    bound: float
    text: str

    def met(self, value: float) -> bool:
        return bool(_OPS[self.op](value, self.bound))

    def violation(self, value: float) -> float:
        """How far ``value`` breaks the constraint (> 0), or 0 when it is met."""
        if self.met(value):
            return 0.0
        if self.op == "==":
            return abs(value - self.bound)
        over = value - self.bound if self.op in ("<=", "<") else self.bound - value
        return max(over, _STRICT)


def parse_constraint(text: str) -> Constraint:
    """``"model_bytes <= 5e6"`` -> Constraint; ValueError (one line) when it does not parse."""
    m = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} does not parse; write NAME OP NUMBER, e.g. model_bytes <= 5e6 "
                         "(OP one of <=, <, >=, >, ==)")
    return Constraint(m.group(1), m.group(2), float(m.group(3)), " ".join(text.split()))


def check_measured(objectives: list[str], constraints: list[str], metrics: set, mllib: bool) -> None:
    """A model's objectives and constraints name its task's metrics or the measured costs (ValueError, one
    line naming the spec key)."""
    valid = sorted(set(metrics) | set(COSTS))
    if mllib and (objectives or constraints):
        raise ValueError("objectives: an MLlib model measures one metric and no costs; objectives and "
                         "constraints apply to single-machine models and objective functions")
    for i, name in enumerate(objectives):
        if name not in valid:
            raise ValueError(f"objectives[{i}]: unknown objective {name!r}; valid: {', '.join(valid)}")
    for i, text in enumerate(constraints):
        c = parse_constraint(text)
        if c.name not in valid:
            raise ValueError(f"constraints[{i}]: unknown quantity {c.name!r} in {text!r}; valid: {', '.join(valid)}")


@dataclass(frozen=True)
class Objectives:
    """What a run optimizes: ``names`` with their directions (``greater``), the ``primary`` metric (the
    row's CV mean), and ``constraints``. One objective without constraints is the classic run."""

    names: tuple[str, ...]
    greater: tuple[bool, ...]
    primary: str
    constraints: tuple[Constraint, ...] = ()
    select: dict = field(default_factory=dict)  # the spec's select: {metric, within: {name: fraction}}

    @property
    def multi(self) -> bool:
        return len(self.names) > 1

    @property
    def measured(self) -> tuple[str, ...]:
        """Every quantity a trial must record (objectives and constraint names), in order, no repeats."""
        return tuple(dict.fromkeys([*self.names, *(c.name for c in self.constraints)]))

    def value(self, row: TrialResult, name: str) -> float | None:
        if name in row.metrics:
            v = row.metrics[name]
        elif name == self.primary:
            v = row.mean
        elif name == "fit_seconds":
            v = row.fit_seconds
        else:
            return None
        return float(v) if v is not None and math.isfinite(float(v)) else None

    def values(self, row: TrialResult) -> list[float] | None:
        """The row's value of every objective, in order; None when the row failed or lacks one."""
        if not row.ok:
            return None
        vals = [self.value(row, n) for n in self.names]
        return None if any(v is None for v in vals) else vals

    def minimized(self, values: Sequence[float]) -> tuple[float, ...]:
        """Values turned so that smaller is better in every objective."""
        return tuple(-v if g else v for v, g in zip(values, self.greater))

    def violations(self, row: TrialResult) -> list[float]:
        """Per constraint, how far the row breaks it (0: met); a missing quantity breaks it by +inf."""
        out = []
        for c in self.constraints:
            v = self.value(row, c.name)
            out.append(math.inf if v is None else c.violation(v))
        return out

    def annotate(self, row: TrialResult) -> TrialResult:
        """Set ``feasible`` and ``violations`` on an ok row; a row missing an objective becomes an error."""
        if not row.ok:
            return row
        missing = [n for n in self.measured if self.value(row, n) is None]
        if missing:
            got = ", ".join(sorted(row.metrics)) or "none"
            row.status, row.error = "error", (f"the trial reported no {missing[0]!r} (an objective or a "
                                              f"constraint needs it); reported: {got}")
            return row
        if self.constraints:
            v = self.violations(row)
            row.feasible = all(x <= 0 for x in v)
            row.violations = {c.text: round(x, 9) for c, x in zip(self.constraints, v) if x > 0}
        return row


def is_feasible(row: TrialResult) -> bool:
    return row.ok and getattr(row, "feasible", None) is not False


# --------------------------------------------------------------------------- NSGA-II's ordering
def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` dominates ``b`` (both minimized): no worse in every objective, better in one."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated_sort(points: Sequence[Sequence[float]]) -> list[int]:
    """The front index of each point (0: not dominated by any; 1: only by front 0; ...), minimized."""
    n = len(points)
    dominated_by = [sum(dominates(points[j], points[i]) for j in range(n)) for i in range(n)]
    beats = [[j for j in range(n) if dominates(points[i], points[j])] for i in range(n)]
    rank, current, level = [0] * n, [i for i in range(n) if dominated_by[i] == 0], 0
    while current:
        nxt = []
        for i in current:
            rank[i] = level
            for j in beats[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    nxt.append(j)
        current, level = nxt, level + 1
    return rank


def crowding_distance(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance of each point within ONE front (the extremes: +inf)."""
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    dist = [0.0] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        lo, hi = points[order[0]][m], points[order[-1]][m]
        dist[order[0]] = dist[order[-1]] = math.inf
        if hi == lo:
            continue
        for k in range(1, n - 1):
            dist[order[k]] += (points[order[k + 1]][m] - points[order[k - 1]][m]) / (hi - lo)
    return dist


def rank_order(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices best first: by front, then by crowding distance within the front (larger first), then by
    index (earlier first). Multi-objective ASHA promotes the first ``k`` of a rung in this order."""
    fronts = non_dominated_sort(points)
    crowd = [0.0] * len(points)
    for f in set(fronts):
        members = [i for i, r in enumerate(fronts) if r == f]
        for i, d in zip(members, crowding_distance([points[i] for i in members])):
            crowd[i] = d
    return sorted(range(len(points)), key=lambda i: (fronts[i], -crowd[i], i))


# --------------------------------------------------------------------------- the run's front
def front(rows: Iterable[TrialResult], obj: Objectives, final_rung: int = 0) -> list[TrialResult]:
    """The Pareto front of the run: feasible, successful rows at the final rung, not dominated by any
    other such row (rows with equal values all stay), in configuration order."""
    cands = [r for r in final_rows(rows) if r.rung == final_rung and is_feasible(r) and obj.values(r) is not None]
    pts = [obj.minimized(obj.values(r)) for r in cands]
    ranks = non_dominated_sort(pts)
    out = [r for r, k in zip(cands, ranks) if k == 0]
    return sorted(out, key=lambda r: (r.number if r.number is not None else 1 << 30, r.trial_id))


def choose(front_rows: Sequence[TrialResult], obj: Objectives) -> TrialResult | None:
    """The row a refit takes: ``select.metric`` (default: the first objective) best among the front rows
    that are within ``select.within[name]`` (a fraction, relative) of the front's best ``name``."""
    sel = obj.select or {}
    metric = sel.get("metric") or obj.names[0]
    rows = list(front_rows)
    for name, frac in (sel.get("within") or {}).items():
        g = obj.greater[obj.names.index(name)]
        best = max(rows, key=lambda r: obj.value(r, name) if g else -obj.value(r, name), default=None)
        if best is None:
            return None
        b = obj.value(best, name)
        rows = [r for r in rows if abs(obj.value(r, name) - b) <= float(frac) * abs(b)]
    g = obj.greater[obj.names.index(metric)]
    key = lambda r: (-obj.value(r, metric) if g else obj.value(r, metric),  # noqa: E731
                     r.number if r.number is not None else 1 << 30)
    return min(rows, key=key) if rows else None


def hypervolume(points_min: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The hypervolume (minimized points) dominated up to ``reference``; points beyond it count nothing."""
    import numpy as np
    from optuna._hypervolume import compute_hypervolume

    pts = np.asarray([p for p in points_min if all(x < r for x, r in zip(p, reference))], dtype=float)
    if len(pts) == 0:
        return 0.0
    return float(compute_hypervolume(pts, np.asarray(reference, dtype=float)))
