"""Combined algorithm selection: a choice of model FAMILY, each with its own sub-space.

The spec writes ``model: {choice: {sklearn.random_forest: {max_depth: ...}, sklearn.hist_gradient_boosting:
{...}}}``. :func:`lift` (before validation) turns it into the one search-space model: a conditional
parameter named ``model`` in ``space`` (``space.Conditional``), and ``model:`` the first family (what loads
the data, picks the metric and the strategy). A configuration then carries ``model`` (the family) beside the
chosen family's parameters; :func:`pick` gives a trial or a refit its family and params. Families are
single-machine models (one strategy for all); a parameter outside the ``model`` choice applies to every
family; ``early_stopping.resource`` must be a budget parameter of every family.
"""
from __future__ import annotations

from typing import Any

from hyperspark.job.models import MLLIB, UnknownModel, get_model, resource_params, valid_params
from hyperspark.space import Conditional, Space

PARAM = "model"  # the conditional parameter that picks the family


def lift(data: Any) -> Any:
    """``model: {choice: {...}}`` -> ``model: <first family>`` and ``space.model: {choice: {...}}``."""
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        return data
    m, space = data["model"], data.get("space")
    if set(m) != {"choice"} or not isinstance(m["choice"], dict) or not m["choice"]:
        raise ValueError("model: a model key, or {choice: {model key: {its space}, ...}} to choose the family")
    if isinstance(space, dict) and PARAM in space:
        raise ValueError("space.model: the model choice is written under model:, not in space")
    first = next(iter(m["choice"]))
    return {**data, "model": first if isinstance(first, str) else str(first),
            "space": {PARAM: {"choice": m["choice"]}, **(space if isinstance(space, dict) else {})}}


def families(space: Space) -> list[str] | None:
    """The families of a model choice (None: one model)."""
    d = space.get(PARAM)
    return list(d.branches) if isinstance(d, Conditional) else None


def check(space: Space, task: str | None, resource: str | None) -> None:
    """Every family a single-machine model supporting the task; its branch's params its own; the shared
    params and the early-stopping resource valid for every family (ValueError, one line naming the key)."""
    fams = families(space)
    shared = sorted(space.all_names() - {PARAM} - space[PARAM].names())
    for fam in fams:
        try:
            m = get_model(fam)
        except UnknownModel as e:
            raise ValueError(f"model.choice.{fam}: {e}") from None
        if m.library == MLLIB:
            raise ValueError(f"model.choice.{fam}: a choice of models takes single-machine models, not mllib")
        tasks = [task] if task else m.tasks()
        if task is not None and task not in m.tasks():
            raise ValueError(f"model.choice.{fam}: supports {', '.join(m.tasks())}, not {task}")
        known = set().union(*(valid_params(fam, t) for t in tasks))
        for name in [*sorted(space[PARAM].branches[fam].all_names()), *shared]:
            if name not in known:
                raise ValueError(f"space.{name}: unknown parameter for {fam} (a family of model); "
                                 f"valid: {', '.join(sorted(known))}")
        if resource is not None and resource not in set().union(*(resource_params(fam, t) for t in tasks)):
            raise ValueError(f"early_stopping.resource: {fam} (a family of model) has no budget parameter "
                             f"{resource!r}; give every family that budget parameter, or drop {fam}")


def pick(params: dict, default: str, choice: bool) -> tuple[str, dict]:
    """(the family's model key, its params without ``model``) for a configuration."""
    if not choice or PARAM not in params:
        return default, params
    return params[PARAM], {k: v for k, v in params.items() if k != PARAM}
