"""Model registry: ``<library>.<name>`` -> how to build it for a task, and which params it accepts.

The library decides the execution strategy (see ``strategy``): MLlib estimators train on the cluster
with k-fold CV over param maps; single-machine libraries (scikit-learn, xgboost, lightgbm) train one
trial per Spark task with the data shipped once per executor.

Besides registry keys, ``model:`` takes any scikit-learn-compatible estimator by import path
(``sklearn.svm:NuSVC``, ``mypkg.models:MyRegressor``, a factory ``mypkg.pipes:make_pipeline``) or, from the
Python API, an estimator object (``object:...`` keys, see ``usercode.py``). Those are library ``custom``:
the single-machine strategy, params set with ``set_params`` (so ``clf__C`` works), threads and seed passed
when the estimator accepts them.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache

from hyperspark.job import usercode as U

MLLIB = "mllib"
CUSTOM = "custom"  # an estimator by import path or object (usercode.py)
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
    # params that put it on the trial's GPU (resources.gpus > 0; CUDA_VISIBLE_DEVICES names the device);
    # None: the model cannot use a GPU, and a spec asking for one is an error
    gpu: dict | None = None

    @property
    def key(self) -> str:
        return self.name if self.library == CUSTOM else f"{self.library}.{self.name}"

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
                 "random_state", gpu={"device": "cuda"}),
        # lightgbm's OpenCL device (its Linux wheels are built with it); a build without it fails the trial
        ModelDef("lightgbm", "lightgbm", "lightgbm:LGBMClassifier", "lightgbm:LGBMRegressor", "n_jobs",
                 "random_state", {"verbose": -1}, gpu={"device_type": "gpu"}),
        # trials that only sleep: the tuner's own overhead (bench --null-trials; with resources.gpus, the
        # scheduling of GPU trials without a GPU); see null_model.py
        ModelDef("null", "sleep", "hyperspark.job.null_model:SleepClassifier",
                 "hyperspark.job.null_model:SleepRegressor", None, "random_state", gpu={}),
        _ml("random_forest", "RandomForestClassifier", "RandomForestRegressor"),
        _ml("gbt", "GBTClassifier", "GBTRegressor"),
        _ml("decision_tree", "DecisionTreeClassifier", "DecisionTreeRegressor"),
        _ml("logistic_regression", "LogisticRegression", None, seed=None),
        _ml("linear_regression", None, "LinearRegression", seed=None),
    ]
}


class UnknownModel(ValueError):
    pass


_CUSTOM: dict[str, ModelDef] = {}


def get_model(key: str) -> ModelDef:
    if key in REGISTRY:
        return REGISTRY[key]
    if U.is_user_code(key):
        if key not in _CUSTOM:
            _CUSTOM[key] = _custom_def(key)
        return _CUSTOM[key]
    raise UnknownModel(f"unknown model {key!r}; valid models: {', '.join(sorted(REGISTRY))}")


def _custom_def(key: str) -> ModelDef:
    try:
        est = U.new_estimator(key)
    except U.UserCodeError as e:
        raise UnknownModel(str(e)) from None
    tasks = U.estimator_tasks(est)
    accepted = est.get_params(deep=False)
    # gpu={}: a user's estimator may use the trial's GPU itself (it reads CUDA_VISIBLE_DEVICES)
    return ModelDef(CUSTOM, key, key if "classification" in tasks else None,
                    key if "regression" in tasks else None,
                    "n_jobs" if "n_jobs" in accepted else None,
                    "random_state" if "random_state" in accepted else None, gpu={})


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
    if m.library == CUSTOM:  # nested names too (pipelines: clf__C)
        return tuple(sorted(U.new_estimator(key).get_params(deep=True)))
    cls = load_class(m.class_path(task))
    if m.library == MLLIB:
        from pyspark.ml.param import Param

        skip = {"featuresCol", "labelCol", "predictionCol", "probabilityCol", "rawPredictionCol",
                "weightCol", "leafCol", "checkpointInterval"}
        names = {n for n in dir(cls) if isinstance(getattr(cls, n, None), Param)}
        return tuple(sorted(names - skip))
    return tuple(sorted(cls().get_params(deep=False)))


def resource_params(key: str, task: str) -> tuple[str, ...]:
    """The model's parameters early stopping may use as its budget (``early_stopping.resource``); for a
    pipeline, a step's budget parameter (``clf__max_iter``) counts too."""
    return tuple(p for p in valid_params(key, task) if p.rpartition("__")[2] in BUDGET_PARAMS)


def build_single_machine(m: ModelDef, task: str, params: dict, threads: int, seed: int, gpu: bool = False):
    """An unfitted estimator with threads matched to the trial's cores (no nested oversubscription); on
    the trial's GPU (``m.gpu``'s params) when ``gpu``. The spec's own params win over both."""
    if m.library == CUSTOM:
        return _build_custom(m, params, threads, seed)
    cls = load_class(m.class_path(task))
    kw = {**m.fixed, **((m.gpu or {}) if gpu else {})}
    accepted = cls().get_params(deep=False)
    if m.seed_param and m.seed_param in accepted:
        kw[m.seed_param] = seed
    if m.threads_param and m.threads_param in accepted:
        kw[m.threads_param] = threads
    kw.update(params)
    return cls(**kw)


def _build_custom(m: ModelDef, params: dict, threads: int, seed: int):
    """set_params on a fresh instance: threads (n_jobs) and seed (random_state) as for registry models,
    where the estimator accepts them; a pipeline step's n_jobs/random_state left at None gets them too."""
    est = U.new_estimator(m.key)
    kw = {}
    for name, value in est.get_params(deep=True).items():
        base = name.rpartition("__")[2]
        if base == "random_state" and (name == m.seed_param or ("__" in name and value is None)):
            kw[name] = seed if value is None else value
        elif base == "n_jobs" and (name == m.threads_param or ("__" in name and value is None)):
            kw[name] = threads
    kw.update(params)
    return est.set_params(**kw)


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
