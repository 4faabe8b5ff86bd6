"""Bad input of issue 21 that the errors table (tests/unit/test_errors_table.py) cannot reach from a spec
file: a searcher that takes one objective only. Every searcher shipped takes several, so the test makes one
take one objective and checks the one line names the key and the searchers that can."""
from __future__ import annotations

import pytest

from hyperspark.errors import SpecError
from hyperspark.job.search.searcher import SEARCHERS, NSGA2Searcher
from hyperspark.job.spec import parse_spec
from tests.paths import REPO

BASE = {"name": "bad", "dataset": {"uri": str(REPO / "examples" / "data" / "breast_cancer.csv"), "label": "target"},
        "model": "sklearn.random_forest", "space": {"max_depth": {"int": [1, 4]}},
        "objectives": [{"metric": "roc_auc"}, {"metric": "predict_ms"}], "output": "/tmp/unused"}


def test_a_searcher_that_takes_one_objective_names_the_ones_that_take_several(monkeypatch):
    monkeypatch.setattr(NSGA2Searcher, "multi_objective", False)
    with pytest.raises((SpecError, ValueError)) as e:
        parse_spec({**BASE, "search": {"type": "nsga2", "trials": 4}})
    line = str(e.value)
    able = [k for k, c in SEARCHERS.items() if c.multi_objective]
    assert "\n" not in line and "search.type" in line and "nsga2 takes one objective" in line
    assert "nsga2" not in able and all(k in line for k in able)
    parse_spec({**BASE, "objectives": [{"metric": "roc_auc"}], "search": {"type": "nsga2", "trials": 4}})  # one: fine


def test_every_shipped_searcher_takes_several_objectives():
    for kind in ("grid", "random", "tpe", "nsga2"):
        search = {"type": kind} if kind == "grid" else {"type": kind, "trials": 4}
        space = {"max_depth": [1, 2]} if kind == "grid" else BASE["space"]
        spec = parse_spec({**BASE, "space": space, "search": search})
        assert [o.metric for o in spec.objectives] == ["roc_auc", "predict_ms"]
