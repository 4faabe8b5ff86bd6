"""A choice of model families (``model: {choice: {...}}``, job/families.py): lifted into the one search-space
model, checked per family in one line, and each configuration's family picked for its trial and refit."""
from __future__ import annotations

import pytest

from hyperspark.errors import SpecError
from hyperspark.job import families
from hyperspark.job.spec import parse_spec
from hyperspark.space import Conditional, trial_id

FAMILIES = {"sklearn.random_forest": {"max_depth": {"int": [2, 6]}},
            "sklearn.logistic_regression": {"C": {"loguniform": [1e-2, 1e2]}},
            "sklearn.knn": {"n_neighbors": [3, 5]}}


def _spec(**kw):
    d = {"dataset": {"uri": "x.csv", "label": "y"}, "model": {"choice": FAMILIES},
         "search": {"type": "random", "trials": 30}, "space": {}, "metric": "roc_auc"}
    d.update(kw)
    return parse_spec(d)


def test_a_family_choice_is_a_conditional_model_parameter():
    s = _spec()
    assert s.model == "sklearn.random_forest" and s.model_choice and s.strategy == "trials"
    assert isinstance(s.search_space["model"], Conditional)
    draws = s.search_space.sample(40, 1)
    assert {p["model"] for p in draws} == set(FAMILIES)
    for p in draws:  # a family's own params only
        assert set(p) - {"model"} == set(FAMILIES[p["model"]])
    key, params = families.pick(draws[0], s.model, True)
    assert key == draws[0]["model"] and "model" not in params
    assert trial_id(s.target, draws[0]) == trial_id(s.target, dict(reversed(list(draws[0].items()))))
    again = parse_spec(s.model_dump(mode="json"))  # spec.json round trip (resume) keeps the fingerprint
    assert again.fingerprint() == s.fingerprint() and again.model_choice


@pytest.mark.parametrize("change,message", [
    ({"early_stopping": {"resource": "n_estimators", "min": 2, "max": 8}},
     "invalid spec: early_stopping.resource: sklearn.logistic_regression (a family of model) has no budget "
     "parameter 'n_estimators'; give every family that budget parameter, or drop sklearn.logistic_regression"),
    ({"model": {"choice": {"sklearn.knn": {"max_depth": [3]}}}},
     "invalid spec: space.max_depth: unknown parameter for sklearn.knn (a family of model); valid: algorithm, "
     "leaf_size, metric, metric_params, n_jobs, n_neighbors, p, weights"),
    ({"model": {"choice": {"mllib.gbt": {}}}},
     "invalid spec: model.choice.mllib.gbt: a choice of models takes single-machine models, not mllib"),
    ({"model": {"pick": {}}},
     "invalid spec: model: a model key, or {choice: {model key: {its space}, ...}} to choose the family"),
    ({"space": {"model": [1]}}, "invalid spec: space.model: the model choice is written under model:, not in space"),
])
def test_a_bad_family_choice_is_one_line(change, message):
    with pytest.raises(SpecError) as e:
        _spec(**change)
    assert str(e.value) == message
