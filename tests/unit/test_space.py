"""The search-space model (hyperspark.space): validation, sampling, grids, Optuna conversion, round trips and
trial ids. No Spark; the pinned values below were computed by the code before the model existed, so a
random search (or a resumed one) still finds the same trials."""
from __future__ import annotations

import importlib.util

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

import hyperspark
from hyperspark import space as S
from hyperspark.errors import SpecError
from hyperspark.space import (DISTRIBUTIONS, Choice, Int, LogUniform, Space, Uniform, canonical, cost_hint,
                              parse_space, trial_id)

MIXED = {"lr": {"loguniform": [1e-3, 1e-1]}, "d": {"int": [2, 4]}, "u": {"uniform": [0.5, 0.6]},
         "c": {"choice": ["a", None, [1, 2]]}, "l": [True, 3, "x"], "f": 7}


# ------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("dim,message", [
    ([], "space.p: empty list of values"),
    ({"choice": []}, "space.p: choice needs a non-empty list"),
    ({"choice": "ab"}, "space.p: choice needs a non-empty list"),
    ({"uniform": [0, 1], "int": [0, 1]},
     "space.p: a distribution is one of {choice, uniform, loguniform, int: ...}, got {'uniform': [0, 1], 'int': [0, 1]}"),
    ({"normal": [0, 1]}, "space.p: a distribution is one of {choice, uniform, loguniform, int: ...}, got {'normal': [0, 1]}"),
    ({"uniform": [0, 1, 2]}, "space.p: uniform needs [low, high]"),
    ({"uniform": "0..1"}, "space.p: uniform needs [low, high]"),
    ({"int": [True, 3]}, "space.p: int needs [low, high]"),
    ({"loguniform": [1, "e"]}, "space.p: loguniform needs [low, high]"),
    ({"uniform": [2, 1]}, "space.p: uniform low 2 is above high 1"),
    ({"int": [5, 2]}, "space.p: int low 5 is above high 2"),
    ({"loguniform": [0, 1]}, "space.p: loguniform needs low > 0"),
    ({"loguniform": [-1.0, 1]}, "space.p: loguniform needs low > 0"),
    ({"int": [1, 2.5]}, "space.p: int needs integer bounds"),
])
def test_a_bad_dimension_is_one_line_naming_the_parameter(dim, message):
    with pytest.raises(SpecError) as e:
        parse_space({"ok": [1], "p": dim})
    assert str(e.value) == message


def test_an_empty_space_or_not_a_mapping():
    with pytest.raises(SpecError, match="^search space is empty: give at least one parameter$"):
        parse_space({})
    with pytest.raises(SpecError, match="^space: expected a mapping of parameter names to values, got list$"):
        parse_space([1, 2])


def test_constructors_validate_too():
    with pytest.raises(SpecError, match="^uniform low 3 is above high 1$"):
        Uniform(3, 1)
    with pytest.raises(SpecError, match="^loguniform needs low > 0$"):
        LogUniform(0.0, 1.0)
    with pytest.raises(SpecError, match="^int needs integer bounds$"):
        Int(0.5, 3)
    with pytest.raises(SpecError, match="^choice needs a non-empty list$"):
        Choice([], form="choice")


def test_every_spec_spelling_parses_to_its_class():
    dists = parse_space(MIXED)
    assert list(dists) == ["lr", "d", "u", "c", "l", "f"]  # the spec's order
    assert [type(d) for d in dists.values()] == [LogUniform, Int, Uniform, Choice, Choice, Choice]
    assert [d.form for d in (dists["c"], dists["l"], dists["f"])] == ["choice", "list", "value"]
    assert parse_space({"a": 1.5})["a"].choices == (1.5,) and parse_space({"a": "x"})["a"].fixed


def test_registry_names_the_spec_keys():
    assert list(DISTRIBUTIONS) == ["choice", "uniform", "loguniform", "int"]
    assert all(cls.kind == kind for kind, cls in DISTRIBUTIONS.items())


# ------------------------------------------------------------------------------------- description
def test_distributions_describe_themselves():
    d = parse_space(MIXED)
    described = {n: (x.kind, x.log, x.low, x.high, x.choices) for n, x in d.items()}
    assert described == {
        "lr": ("loguniform", True, 1e-3, 1e-1, None),
        "d": ("int", False, 2, 4, None),
        "u": ("uniform", False, 0.5, 0.6, None),
        "c": ("choice", False, None, None, ("a", None, [1, 2])),
        "l": ("choice", False, None, None, (True, 3, "x")),
        "f": ("choice", False, None, None, (7,)),
    }
    assert [n for n, x in d.items() if x.fixed] == ["f"]
    assert [n for n, x in d.items() if x.literal] == ["l", "f"]


# ------------------------------------------------------------------------------------- round trip
def test_round_trip_to_the_spec_spelling():
    sp = Space.from_spec(MIXED)
    assert sp.to_spec() == MIXED
    assert json.loads(json.dumps(sp.to_spec())) == MIXED  # JSON (spec.json) and back
    assert Space.from_spec(sp.to_spec()) == sp
    assert Space.from_spec(sp) is sp


def test_equality_follows_the_spelling():
    assert Int(1, 3) == Int(1, 3) and Int(1, 3) != Int(1, 4) and Uniform(1, 3) != LogUniform(1, 3)
    assert Choice([1, 2]) != Choice([1, 2], form="choice")  # a list and {choice: ...} differ in a grid
    assert len({Int(1, 3), Int(1, 3), Choice([1, [2]])}) == 2


# ------------------------------------------------------------------------------------- sampling
def test_sampling_matches_the_draws_pinned_before_the_model():
    got = Space.from_spec(MIXED).sample(3, 11)
    assert got == [
        {"lr": 0.0018077584720876587, "d": 4, "u": 0.5601498357623358, "c": None, "l": "x", "f": 7},
        {"lr": 0.001976296807807327, "d": 2, "u": 0.5928211022960369, "c": None, "l": True, "f": 7},
        {"lr": 0.0018178075329588876, "d": 4, "u": 0.5621883592796383, "c": [1, 2], "l": "x", "f": 7},
    ]


def test_sampling_is_reproducible_and_in_bounds():
    sp = Space.from_spec({"lr": {"loguniform": [1e-3, 1e-1]}, "d": {"int": [2, 4]}, "u": {"uniform": [0.5, 0.6]},
                          "c": {"choice": ["a", "b"]}})
    a = sp.sample(400, 5)
    assert a == sp.sample(400, 5) and a != sp.sample(400, 6)
    assert all(1e-3 <= r["lr"] <= 1e-1 and 0.5 <= r["u"] <= 0.6 for r in a)
    assert {r["d"] for r in a} == {2, 3, 4} and {r["c"] for r in a} == {"a", "b"}  # int bounds both included
    assert all(type(r["d"]) is int and type(r["u"]) is float for r in a)


def test_loguniform_is_uniform_in_log_space_and_uniform_is_not():
    rng = np.random.default_rng(0)
    logs = np.log10([LogUniform(1e-4, 1.0).sample(rng) for _ in range(2000)])
    assert -2.2 < logs.mean() < -1.8  # the middle of [-4, 0]
    assert 0.2 < np.mean(logs < -2) < 0.8  # half the draws below 1e-2
    lin = [Uniform(1e-4, 1.0).sample(rng) for _ in range(2000)]
    assert np.mean(np.array(lin) < 1e-2) < 0.05  # uniform: about 1% below 1e-2


def test_a_bare_value_is_fixed_and_draws_nothing():
    """Adding a fixed parameter does not shift the others' draws (a one-element list neither: numpy draws
    nothing for a range of one), so such a space keeps the random trials of the same space without it."""
    base = Space.from_spec({"u": {"uniform": [0, 1]}, "v": {"uniform": [0, 1]}}).sample(5, 3)
    fixed = Space.from_spec({"u": {"uniform": [0, 1]}, "k": "gini", "v": {"uniform": [0, 1]}}).sample(5, 3)
    assert [{"u": r["u"], "v": r["v"]} for r in fixed] == base and {r["k"] for r in fixed} == {"gini"}
    listed = Space.from_spec({"u": {"uniform": [0, 1]}, "k": ["gini"], "v": {"uniform": [0, 1]}}).sample(5, 3)
    assert [{"u": r["u"], "v": r["v"]} for r in listed] == base and {r["k"] for r in listed} == {"gini"}


def test_numpy_values_come_out_plain():
    sp = Space.from_spec({"a": [np.int64(3)], "b": np.float64(0.5)})
    for p in sp.sample(2, 0) + sp.grid():
        assert type(p["a"]) is int and type(p["b"]) is float


# ------------------------------------------------------------------------------------- grid
def test_grid_is_the_cartesian_product_in_sorted_name_order():
    g = Space.from_spec({"b": ["x", "y", "z"], "a": [1, 2], "c": 7}).grid()  # as ParameterGrid orders it
    assert g == [{"a": 1, "b": "x", "c": 7}, {"a": 1, "b": "y", "c": 7}, {"a": 1, "b": "z", "c": 7},
                 {"a": 2, "b": "x", "c": 7}, {"a": 2, "b": "y", "c": 7}, {"a": 2, "b": "z", "c": 7}]


def test_grid_matches_sklearn_parameter_grid():
    sk = pytest.importorskip("sklearn.model_selection")
    space = {"max_depth": [3, None, 9], "criterion": ["gini", "entropy"], "n_estimators": [10, 50]}
    assert Space.from_spec(space).grid() == list(sk.ParameterGrid(space))


@pytest.mark.parametrize("dim,kind", [({"uniform": [0, 1]}, "uniform"), ({"int": [1, 3]}, "int"),
                                      ({"choice": [1, 2]}, "choice"), ({"loguniform": [1, 2]}, "loguniform")])
def test_grid_takes_only_lists_of_values(dim, kind):
    with pytest.raises(SpecError) as e:
        Space.from_spec({"a": [1], "p": dim}).grid()
    assert str(e.value) == (f"space.p: a grid search takes a list of values, not a distribution ({kind}); "
                            "use search.type: random")


# ------------------------------------------------------------------------------------- Optuna
def test_optuna_distributions_come_from_the_classes():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sp = Space.from_spec({**MIXED, "one": [5]})
    assert sp.to_optuna() == {  # fixed parameters (a bare value, a one-element list) are set, not searched
        "lr": FloatDistribution(1e-3, 1e-1, log=True), "d": IntDistribution(2, 4),
        "u": FloatDistribution(0.5, 0.6, log=False), "c": CategoricalDistribution([0, 1, 2]),
        "l": CategoricalDistribution([0, 1, 2]),
    }
    assert sp.fixed_params() == {"f": 7, "one": 5}


def test_optuna_values_round_trip_through_choice_indices():
    sp = Space.from_spec({**MIXED, "one": [5]})
    raw = {"lr": 0.01, "d": 3, "u": 0.55, "c": 2, "l": 0}
    params = sp.from_optuna(raw)
    assert params == {"lr": 0.01, "d": 3, "u": 0.55, "c": [1, 2], "l": True, "f": 7, "one": 5}
    assert list(params) == list(sp)  # the spec's order
    assert sp.to_optuna_params(params) == raw
    with pytest.raises(ValueError, match="not one of the choices"):
        Choice(["a", "b"]).to_optuna_value("c")


# ------------------------------------------------------------------------------------- ids
def test_trial_ids_are_pinned():
    """Resume finds finished trials by id: these values were computed before the space model existed."""
    assert trial_id("sklearn.random_forest", {"max_depth": 3}) == "c62eecc9422b"
    params = {"lr": 0.01, "c": None, "l": [1, 2], "b": True, "n": np.int64(3), "s": "gini"}
    assert trial_id("m", params) == "0355a9546f66"


def test_trial_ids_ignore_key_order_and_numpy_types():
    assert trial_id("m", {"a": 1, "b": 2}) == trial_id("m", {"b": 2, "a": 1})
    assert trial_id("m", {"a": np.int64(3), "t": (1, 2)}) == trial_id("m", {"a": 3, "t": [1, 2]})
    assert len({trial_id("m", {"a": 1}), trial_id("m", {"a": 2}), trial_id("n", {"a": 1})}) == 3
    assert canonical({"b": np.float64(0.5), "a": None}) == '{"a":null,"b":0.5}'


def test_cost_hint_multiplies_positive_numbers_only():
    assert cost_hint({"n": 100, "d": 3, "lr": 0.5, "c": "gini", "b": True, "neg": -2, "z": 0}) == 150.0
    assert math.isclose(cost_hint({}), 1.0)


# ------------------------------------------------------------------------------------- Python helpers
def test_python_helpers_return_the_spec_spelling():
    assert hyperspark.randint(10, 300) == {"int": [10, 300]}
    assert hyperspark.int is hyperspark.randint is S.randint
    assert hyperspark.uniform(0.1, 1) == {"uniform": [0.1, 1]}
    assert hyperspark.loguniform(1e-3, 1) == {"loguniform": [1e-3, 1]}
    assert hyperspark.choice("gini", "entropy") == hyperspark.choice(["gini", "entropy"]) == {
        "choice": ["gini", "entropy"]}
    built = {"n": hyperspark.randint(1, 3), "lr": hyperspark.loguniform(1e-3, 1), "c": hyperspark.choice(1, 2)}
    assert [type(d) for d in parse_space(built).values()] == [Int, LogUniform, Choice]


def test_the_module_keeps_the_builtin_int():
    assert Int(1, 3).sample(np.random.default_rng(0)) in (1, 2, 3)  # int() inside the module is the builtin
    from hyperspark.space import int as helper

    assert helper(1, 2) == {"int": [1, 2]}
    with pytest.raises(AttributeError):
        S.nope  # noqa: B018


def test_the_space_module_sits_below_job_ops_and_pyspark():
    tree = ast.parse(Path(S.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in imported if m.startswith(("pyspark", "hyperspark.job", "hyperspark.ops"))}
    top_level = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top_level |= {n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
    assert "optuna" not in top_level  # imported lazily, inside to_optuna


# ------------------------------------------------------------------------------------- conditional spaces
COND = {"C": {"loguniform": [1e-3, 1e3]},
        "kernel": {"choice": {"rbf": {"gamma": {"loguniform": [1e-4, 1]}},
                              "poly": {"degree": {"int": [2, 5]}, "coef0": {"uniform": [0, 1]},
                                       "basis": {"choice": {"hermite": {"order": {"int": [1, 3]}}, "plain": {}}}},
                              "linear": {}}}}
BRANCH_PARAMS = {"rbf": {"gamma"}, "poly": {"degree", "coef0", "basis"}, "linear": set()}


def _used_only_chosen_branches(p: dict) -> bool:
    """Exactly C, kernel, the chosen kernel's params and (poly) the chosen basis's params."""
    want = {"C", "kernel"} | BRANCH_PARAMS[p["kernel"]]
    if p["kernel"] == "poly" and p["basis"] == "hermite":
        want |= {"order"}
    return set(p) == want


def test_grid_over_a_conditional_space_is_exactly_the_branches_products():
    sp = Space.from_spec({"C": [1, 10], "kernel": {"choice": {
        "rbf": {"gamma": [0.1, 1.0]},
        "poly": {"degree": [2, 3], "coef0": [0, 1], "basis": {"choice": {"a": {"o": [1, 2, 3]}, "b": {}}}},
        "linear": {}}}})
    grid = sp.grid()
    expected = [{"C": c, "kernel": "rbf", "gamma": g} for c in (1, 10) for g in (0.1, 1.0)]
    expected += [{"C": c, "kernel": "poly", "degree": d, "coef0": z, "basis": "a", "o": o}
                 for c in (1, 10) for d in (2, 3) for z in (0, 1) for o in (1, 2, 3)]
    expected += [{"C": c, "kernel": "poly", "degree": d, "coef0": z, "basis": "b"}
                 for c in (1, 10) for d in (2, 3) for z in (0, 1)]
    expected += [{"C": c, "kernel": "linear"} for c in (1, 10)]
    assert len(grid) == 2 * (2 + 2 * 2 * (3 + 1) + 1) == 38
    assert sorted(map(canonical, grid)) == sorted(map(canonical, expected))
    assert len({trial_id("m", p) for p in grid}) == 38
    # a branch with a distribution is not a grid
    with pytest.raises(SpecError, match=r"^space\.k\.b\.x: a grid search takes a list"):
        Space.from_spec({"k": {"choice": {"a": {}, "b": {"x": {"uniform": [0, 1]}}}}}).grid()


def test_random_draws_a_branch_then_its_sub_space_reproducibly():
    sp = Space.from_spec(COND)
    draws = sp.sample(300, 4)
    assert all(_used_only_chosen_branches(p) and sp.contains(p) for p in draws)
    assert {p["kernel"] for p in draws} == {"rbf", "poly", "linear"}
    assert {p["basis"] for p in draws if p["kernel"] == "poly"} == {"hermite", "plain"}
    assert sp.sample(300, 4) == draws and sp.sample(300, 5) != draws


_NO_TORCH = importlib.util.find_spec("torch") is None


@pytest.mark.parametrize("kind,n", [("tpe", 14), ("nsga2", 14), pytest.param(  # a GP fit per ask: few
    "gp", 5, marks=pytest.mark.skipif(_NO_TORCH, reason="Optuna's GP sampler needs PyTorch (pip install torch); "
                                                          "not installed in this environment"))])
def test_optuna_searchers_never_propose_an_unchosen_branch_and_are_reproducible(kind, n):
    from hyperspark.job.search.searcher import SEARCHERS

    def run(seed):
        s = SEARCHERS[kind]("m", COND, n, seed, True, directions=[True, False])
        out = []
        while (c := s.ask()) is not None:
            out.append(c.params)
            score = -abs(math.log10(c.params["C"])) + (1 if c.params["kernel"] == "rbf" else 0)
            s.tell(c, "complete", [score, len(c.params)])
        return out

    first = run(3)
    assert len(first) == n and all(_used_only_chosen_branches(p) for p in first)
    assert run(3) == first  # seeded: the same configurations again


def test_a_conditional_spec_fails_in_one_line_naming_the_branch():
    cases = {
        "space.k.a: a branch is a mapping of its own parameters ({} for none), got nothing": {"a": None},
        "space.k: branch names must be strings, got 1 (int); quote it": {1: {}},
        "space.k.a.k: also a parameter of an enclosing level; a configuration is flat, so give it another name":
            {"a": {"k": [1]}},
        "space.k.a.g: loguniform needs low > 0": {"a": {"g": {"loguniform": [0, 1]}}},
    }
    for message, branches in cases.items():
        with pytest.raises(SpecError) as e:
            parse_space({"k": {"choice": branches}})
        assert str(e.value) == message


def test_python_choice_of_a_mapping_is_the_spec_s_conditional():
    sub = {"rbf": {"gamma": hyperspark.loguniform(1e-4, 1)}, "linear": {}}
    assert hyperspark.choice(sub) == {"choice": {"rbf": {"gamma": {"loguniform": [1e-4, 1]}}, "linear": {}}}
    sp = Space.from_spec({"kernel": hyperspark.choice(sub)})
    assert Space.from_spec(sp.to_spec()).to_spec() == sp.to_spec()
    assert not sp.contains({"kernel": "linear", "gamma": 0.1}) and sp.contains({"kernel": "linear"})


def test_enqueued_configurations_run_first_and_warm_ones_never():
    from hyperspark.job.search.searcher import Config, GridSearcher, Restored, TPESearcher

    grid = GridSearcher("m", {"a": [1, 2, 3], "b": [5, 6]}, None, 0, True, enqueue=[{"a": 3, "b": 6}])
    skip = {"a": 1, "b": 5}
    grid.warm([Restored(Config(-1, trial_id("m", skip), skip), "complete", 0.5)])
    asked = [grid.ask().params for _ in range(5)]
    assert asked[0] == {"a": 3, "b": 6} and skip not in asked and grid.ask() is None
    tpe = TPESearcher("m", COND, 6, 0, True, enqueue=[{"C": 2.0, "kernel": "linear"}])
    old = {"C": 5.0, "kernel": "rbf", "gamma": 0.01}
    tpe.warm([Restored(Config(-1, trial_id("m", old), old), "complete", 0.9)])
    assert tpe.ask().params == {"C": 2.0, "kernel": "linear"}
    assert len(tpe.study.trials) == 2  # the warm trial is history the sampler sees
