"""Search spaces -> concrete trials, with ids that are a stable hash of the params."""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trial:
    trial_id: str
    params: dict

    def cost_hint(self) -> float:
        return cost_hint(self.params)


def cost_hint(params: dict) -> float:
    """A proxy for how long a trial takes: the product of its positive numeric params.

    Used only to dispatch long trials first (longest-processing-time scheduling), which keeps the
    last slot from idling on one long straggler. It never changes results.
    """
    c = 1.0
    for v in params.values():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            c *= float(v)
    return c


def canonical(params: dict) -> str:
    return json.dumps(_plain(params), sort_keys=True, separators=(",", ":"))


def trial_id(model: str, params: dict) -> str:
    """Stable across runs, machines and dict order: sha1 of the model key and canonical JSON params."""
    return hashlib.sha1(f"{model}|{canonical(params)}".encode()).hexdigest()[:12]


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def grid(space: dict) -> list[dict]:
    """Cartesian product over the parameter names in sorted order, i.e. scikit-learn's ParameterGrid
    order, so that ties between equal scores go to the same candidate as GridSearchCV's."""
    names = sorted(space)
    values = [v if isinstance(v, list) else [v] for v in (space[n] for n in names)]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def sample(space: dict, n: int, seed: int) -> list[dict]:
    """``n`` draws (duplicates removed afterwards by trial id), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        out.append({name: _draw(dim, rng) for name, dim in space.items()})
    return out


def _draw(dim, rng):
    if isinstance(dim, list):
        return _plain(dim[int(rng.integers(len(dim)))])
    if not isinstance(dim, dict):
        return dim
    kind, arg = next(iter(dim.items()))
    if kind == "choice":
        return _plain(arg[int(rng.integers(len(arg)))])
    lo, hi = arg
    if kind == "uniform":
        return float(rng.uniform(lo, hi))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if kind == "int":
        return int(rng.integers(lo, hi + 1))
    raise ValueError(f"unknown distribution {kind}")


def expand(model: str, space: dict, search_type: str, trials: int | None, seed: int) -> list[Trial]:
    params_list = grid(space) if search_type == "grid" else sample(space, trials or 0, seed)
    seen: dict[str, Trial] = {}
    for p in params_list:
        p = _plain(p)
        tid = trial_id(model, p)
        seen.setdefault(tid, Trial(tid, p))
    return list(seen.values())
