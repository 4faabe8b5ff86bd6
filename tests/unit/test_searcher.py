"""The searchers over the space model, and the spec's search types derived from their registry. No Spark.

The pinned trial ids were computed by the code before the space model existed: a resumed random or TPE
search must propose the same configurations (with the same ids) as the run it resumes."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hyperspark.errors import SpecError
from hyperspark.job import spec as spec_module
from hyperspark.job.search import searcher as searcher_module
from hyperspark.job.search.searcher import (SEARCHERS, GridSearcher, RandomSearcher, Searcher, TPESearcher,
                                            make_searcher)
from hyperspark.job.spec import SEARCH_TYPES, parse_spec
from hyperspark.space import Space

MIXED = {"lr": {"loguniform": [1e-3, 1e-1]}, "d": {"int": [2, 4]}, "u": {"uniform": [0.5, 0.6]},
         "c": {"choice": ["a", None, [1, 2]]}, "l": [True, 3, "x"], "f": 7}


def _spec(search: dict, space: dict) -> dict:
    return {"dataset": {"uri": "data.csv", "label": "y"}, "model": "sklearn.random_forest", "search": search,
            "space": space}


def _err(data: dict) -> str:
    with pytest.raises(SpecError) as e:
        parse_spec(data)
    return str(e.value)


# ------------------------------------------------------------------------------------- registry
def test_search_types_are_the_registry_keys():
    assert SEARCH_TYPES == ("grid", "random", "tpe", "nsga2", "gp")
    assert SEARCH_TYPES == tuple(SEARCHERS)
    assert all(cls.name == key for key, cls in SEARCHERS.items())


def test_an_unknown_search_type_lists_the_registry():
    assert _err(_spec({"type": "bayes", "trials": 3}, {"max_depth": [2]})) == (
        "invalid spec: search.type: unknown search type 'bayes'; valid: grid, random, tpe, nsga2, gp")


class _EverySecond(GridSearcher):
    name = "every_second"

    def _params(self):
        return self.space.grid()[::2]


def test_adding_a_searcher_is_one_class_and_one_registry_line(monkeypatch):
    monkeypatch.setitem(SEARCHERS, _EverySecond.name, _EverySecond)
    s = parse_spec(_spec({"type": "every_second"}, {"max_depth": [2, 3, 4]}))  # no trials: a grid's need
    searcher = make_searcher(s.search.type, s.model, s.space, s.search.trials, 0, True)
    assert [c.params for c in searcher.configs] == [{"max_depth": 2}, {"max_depth": 4}]
    assert "valid: grid, random, tpe, nsga2, gp, every_second" in _err(_spec({"type": "nope"}, {"max_depth": [2]}))


def test_needs_trials_decides_whether_search_trials_is_required():
    assert [k for k, c in SEARCHERS.items() if c.needs_trials] == ["random", "tpe", "nsga2", "gp"]
    assert _err(_spec({"type": "random"}, {"max_depth": [2]})) == (
        "invalid spec: search.trials is required for a random search")
    assert parse_spec(_spec({"type": "grid"}, {"max_depth": [2]})).search.trials is None


def test_searcher_does_not_import_the_spec():
    """spec imports the registry from searcher; the reverse would be an import circle."""
    tree = ast.parse(Path(searcher_module.__file__).read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "hyperspark.job.spec" not in modules and spec_module.SEARCHERS is SEARCHERS


# ------------------------------------------------------------------------------------- check_space
def test_grid_asks_for_lists_of_values():
    assert _err(_spec({"type": "grid"}, {"max_depth": {"int": [2, 5]}})) == (
        "invalid spec: space.max_depth: a grid search takes a list of values, not a distribution (int); "
        "use search.type: random")
    GridSearcher.check_space(Space.from_spec({"max_depth": [2, 5], "criterion": "gini"}))  # no error


def test_tpe_asks_for_at_least_one_distribution():
    with pytest.raises(SpecError) as e:
        TPESearcher.check_space(Space.from_spec({"max_depth": [2, 5], "criterion": "gini"}))
    assert str(e.value) == ("space: a tpe search needs at least one distribution (choice, uniform, loguniform, "
                            "int); a space of plain lists is a grid: use search.type: grid")
    TPESearcher.check_space(Space.from_spec({"max_depth": {"choice": [2, 5]}}))  # no error


def test_random_takes_any_space():
    RandomSearcher.check_space(Space.from_spec(MIXED))
    assert Searcher.check_space.__func__ is RandomSearcher.check_space.__func__  # the base's: no conditions


# ------------------------------------------------------------------------------------- pinned ids
def test_random_search_ids_are_pinned():
    s = RandomSearcher("m", MIXED, 6, 3, True, longest_first=False)
    assert [c.trial_id for c in s.configs] == [
        "5868a992232b", "d06863bf9764", "b2b675a947c4", "dfa1caa80349", "4633c3407869", "57954a405fc3"]


def test_tpe_search_ids_are_pinned():
    """Optuna is pinned in constraints.txt; TPE's proposals (hence these ids) may change with its version."""
    s = TPESearcher("m", MIXED, 14, 5, True)  # 3 random start-up proposals, then TPE's
    ids = []
    while (c := s.ask()) is not None:
        ids.append(c.trial_id)
        s.tell(c, "complete", -(c.params["u"] - 0.55) ** 2 - c.params["d"])
    assert ids == ["fa85a8a4277d", "9b39ef5d9c0a", "274d67d4823a", "b68bbb244d8c", "bd95da368efa",
                   "ea5470b68952", "62088ef9e85f", "0917c11a24ed", "584472b26068", "b4d44b8ea01e",
                   "bd233e78c1b0", "f48a2ad24b51", "f77e83ad5b22", "db8b79653175"]


def test_grid_searcher_numbers_follow_the_grid_and_drop_duplicates():
    s = GridSearcher("m", {"b": ["x", "y"], "a": [1, 1, 2]}, None, 0, True, longest_first=False)
    assert [(c.number, c.params) for c in s.configs] == [
        (0, {"a": 1, "b": "x"}), (1, {"a": 1, "b": "y"}), (2, {"a": 2, "b": "x"}), (3, {"a": 2, "b": "y"})]


# ------------------------------------------------------------------------------------- the space model
def test_searchers_take_a_dict_or_a_space_alike():
    sp = Space.from_spec(MIXED)
    a = RandomSearcher("m", MIXED, 5, 1, True)
    b = RandomSearcher("m", sp, 5, 1, True)
    assert a.space == sp and b.space is sp
    assert [c.params for c in a.configs] == [c.params for c in b.configs]


def test_tpe_searches_only_the_non_fixed_parameters():
    from optuna.distributions import CategoricalDistribution, IntDistribution

    s = TPESearcher("m", {"k": {"int": [1, 3]}, "c": ["a", "b"], "one": ["z"], "f": 0.5}, 4, 0, True)
    c = s.ask()
    assert s.study.trials[0].distributions == {"k": IntDistribution(1, 3), "c": CategoricalDistribution([0, 1])}
    assert list(c.params) == ["k", "c", "one", "f"] and c.params["one"] == "z" and c.params["f"] == 0.5


def test_a_malformed_space_fails_before_any_search():
    with pytest.raises(SpecError, match=r"^space\.k: int low 3 is above high 1$"):
        RandomSearcher("m", {"k": {"int": [3, 1]}}, 4, 0, True)
