"""Model registry: ``<library>.<name>`` -> how to build it for a task, and which params it accepts.

The library decides the execution strategy (see ``strategy``): MLlib estimators train on the cluster
with k-fold CV over param maps; single-machine libraries (scikit-learn, xgboost, lightgbm) train one
trial per Spark task with the data shipped once per executor.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache

MLLIB = "mllib"
# parameters that set a training budget (early stopping's ``resource``): trees, boosting rounds, iterations
BUDGET_PARAMS = ("n_estimators", "max_iter", "numTrees", "maxIter", "num_boost_round", "max_epochs")


@dataclass(frozen=True)
class ModelDef:
    library: str  # sklearn | xgboost | lightgbm | mllib
    name: str
    classifier: str | None  # "module:Class" for classification
    regressor: str | None  # "module:Class" for regression
    threads_param: str | None = None  # n_jobs / num_threads: set to spark.task.cpus
    seed_param: str | None = None  # random_state / seed: set from the spec's seed unless given
    fixed: dict = field(default_factory=dict)  # always-on params (e.g. lightgbm verbose=-1)

    @property
    def key(self) -> str:
        return f"{self.library}.{self.name}"

    @property
    def strategy(self) -> str:
        return "mllib" if self.library == MLLIB else "trials"

    def tasks(self) -> list[str]:
        return [t for t, c in (("classification", self.classifier), ("regression", self.regressor)) if c]

    def class_path(self, task: str) -> str:
        path = self.classifier if task == "classification" else self.regressor
        if path is None:
            raise ValueError(f"model {self.key} does not support {task}")
        return path


def _sk(name, clf, reg, threads="n_jobs", seed="random_state", **fixed) -> ModelDef:
    mod = lambda c: c and (c if ":" in c else f"sklearn.ensemble:{c}")  # noqa: E731
    return ModelDef("sklearn", name, mod(clf), mod(reg), threads, seed, fixed)


def _ml(name, clf, reg, seed="seed") -> ModelDef:
    mod = lambda c, kind: c and f"pyspark.ml.{kind}:{c}"  # noqa: E731
    return ModelDef(MLLIB, name, mod(clf, "classification"), mod(reg, "regression"), None, seed)


REGISTRY: dict[str, ModelDef] = {
    m.key: m
    for m in [
        _sk("random_forest", "RandomForestClassifier", "RandomForestRegressor"),
        _sk("extra_trees", "ExtraTreesClassifier", "ExtraTreesRegressor"),
        _sk("gradient_boosting", "GradientBoostingClassifier", "GradientBoostingRegressor", threads=None),
        _sk("hist_gradient_boosting", "HistGradientBoostingClassifier", "HistGradientBoostingRegressor",
            threads=None),
        _sk("logistic_regression", "sklearn.linear_model:LogisticRegression", None, threads=None),
        _sk("ridge", "sklearn.linear_model:RidgeClassifier", "sklearn.linear_model:Ridge", threads=None),
        _sk("svm", "sklearn.svm:SVC", "sklearn.svm:SVR", threads=None, seed=None),
        _sk("knn", "sklearn.neighbors:KNeighborsClassifier", "sklearn.neighbors:KNeighborsRegressor",
            seed=None),
        _sk("decision_tree", "sklearn.tree:DecisionTreeClassifier", "sklearn.tree:DecisionTreeRegressor",
            threads=None),
        ModelDef("xgboost", "xgboost", "xgboost:XGBClassifier", "xgboost:XGBRegressor", "n_jobs",
                 "random_state"),
        ModelDef("lightgbm", "lightgbm", "lightgbm:LGBMClassifier", "lightgbm:LGBMRegressor", "n_jobs",
                 "random_state", {"verbose": -1}),
        # trials that only sleep: the tuner's own overhead (bench --null-trials); see null_model.py
        ModelDef("null", "sleep", "hyperspark_job.null_model:SleepClassifier",
                 "hyperspark_job.null_model:SleepRegressor", None, "random_state"),
        _ml("random_forest", "RandomForestClassifier", "RandomForestRegressor"),
        _ml("gbt", "GBTClassifier", "GBTRegressor"),
        _ml("decision_tree", "DecisionTreeClassifier", "DecisionTreeRegressor"),
        _ml("logistic_regression", "LogisticRegression", None, seed=None),
        _ml("linear_regression", None, "LinearRegression", seed=None),
    ]
}


class UnknownModel(ValueError):
    pass


def get_model(key: str) -> ModelDef:
    if key in REGISTRY:
        return REGISTRY[key]
    raise UnknownModel(f"unknown model {key!r}; valid models: {', '.join(sorted(REGISTRY))}")


def load_class(path: str):
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise UnknownModel(f"model needs the Python package {module.split('.')[0]!r}, "
                           f"which is not installed: {e}") from e


@lru_cache(maxsize=None)
def valid_params(key: str, task: str) -> tuple[str, ...]:
    """Names a spec may tune. For MLlib these are class-level Params (no JVM needed to list them)."""
    m = get_model(key)
    cls = load_class(m.class_path(task))
    if m.library == MLLIB:
        from pyspark.ml.param import Param

        skip = {"featuresCol", "labelCol", "predictionCol", "probabilityCol", "rawPredictionCol",
                "weightCol", "leafCol", "checkpointInterval"}
        names = {n for n in dir(cls) if isinstance(getattr(cls, n, None), Param)}
        return tuple(sorted(names - skip))
    return tuple(sorted(cls().get_params(deep=False)))


def resource_params(key: str, task: str) -> tuple[str, ...]:
    """The model's parameters early stopping may use as its budget (``early_stopping.resource``)."""
    return tuple(p for p in valid_params(key, task) if p in BUDGET_PARAMS)


def build_single_machine(m: ModelDef, task: str, params: dict, threads: int, seed: int):
    """An unfitted estimator with threads matched to spark.task.cpus (no nested oversubscription)."""
    cls = load_class(m.class_path(task))
    kw = dict(m.fixed)
    accepted = cls().get_params(deep=False)
    if m.seed_param and m.seed_param in accepted:
        kw[m.seed_param] = seed
    if m.threads_param and m.threads_param in accepted:
        kw[m.threads_param] = threads
    kw.update(params)
    return cls(**kw)


def build_mllib(m: ModelDef, task: str, seed: int, features_col="features", label_col="label"):
    cls = load_class(m.class_path(task))
    est = cls(featuresCol=features_col, labelCol=label_col)
    if m.seed_param and est.hasParam(m.seed_param):
        est._set(**{m.seed_param: seed})
    return est


def mllib_param_map(est, params: dict):
    """Spec params (plain names) -> an MLlib ParamMap for ``est.copy``/``fit``."""
    return {est.getParam(k): _mllib_value(est, k, v) for k, v in params.items()}


def _mllib_value(est, name, value):
    # MLlib's typed params convert ints to float where needed; numpy scalars are not accepted by py4j.
    if hasattr(value, "item"):
        value = value.item()
    return value
