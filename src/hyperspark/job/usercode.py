"""User code: estimators and objective functions named by import path, or passed as objects.

Three spellings reach the same place:

* an import path ``module:attr`` in the spec (``sklearn.svm:NuSVC``, ``mypkg.models:MyRegressor``,
  ``mypkg.pipes:make_pipeline``, ``mypkg.train:objective``): imported on the driver at validation and on
  every executor before the search (``check_on_executors``);
* an object passed to the Python API (``hyperspark.tune(estimator=obj)`` / ``objective=fn``): registered
  here under a key ``object:<name>-<hash>`` and shipped to executors as cloudpickle bytes (the job's
  TrialContext carries them), so a class or function defined in a notebook works as well. An object whose
  module is local and not installed (a ``.py`` next to the notebook, a ``src/`` folder on ``sys.path``)
  ships BY VALUE (cloudpickle's ``register_pickle_by_value`` on its top-level package, for that one
  pickle); installed packages stay by reference (executors must have them: the pre-search check says so);
* registry keys (``sklearn.random_forest``) stay in ``models.REGISTRY``.

Every mistake is ONE line (``UserCodeError``): the spec turns it into ``model: ...``/``objective: ...``.
"""
from __future__ import annotations

from hyperspark.job.protocol import one_line

import hashlib
import importlib
import inspect
import math
import numbers
import os
import sys

OBJECT_PREFIX = "object:"
ESTIMATOR_METHODS = ("fit", "get_params", "set_params")

_OBJECTS: dict[str, object] = {}  # key -> object (driver: registered by the API; executors: unpickled)
_BLOBS: dict[str, bytes] = {}  # key -> cloudpickle bytes (driver side, to ship)


class UserCodeError(ValueError):
    """A path that cannot be imported, an object of the wrong kind: one line, without the key prefix."""


def is_import_path(key: str) -> bool:
    return ":" in key and not key.startswith(OBJECT_PREFIX)


def is_object_key(key: str) -> bool:
    return key.startswith(OBJECT_PREFIX)


def is_user_code(key: str) -> bool:
    return is_import_path(key) or is_object_key(key)


# --------------------------------------------------------------------------- import paths
def resolve(path: str):
    """``module:attr`` (attr may be dotted) -> the object. One-line UserCodeError when it cannot be."""
    if is_object_key(path):
        return registered(path)
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise UserCodeError(f"{path!r} is not an import path; write module:name (e.g. sklearn.svm:NuSVC)")
    try:
        obj = importlib.import_module(module)
    except ImportError as e:
        missing = getattr(e, "name", None) or module
        raise UserCodeError(f"cannot import {path!r}: no module named {missing!r} "
                            "(install it, or ship it with --py-files or --package)") from None
    except Exception as e:  # noqa: BLE001 - the user's module raised while importing
        raise UserCodeError(f"cannot import {path!r}: importing {module} raised {type(e).__name__}: "
                            f"{_first_line(e)}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserCodeError(f"cannot import {path!r}: module {module!r} has no attribute {attr!r}") from None
    return obj


def _first_line(e: BaseException) -> str:
    return one_line(e)


def is_estimator(obj) -> bool:
    return all(callable(getattr(obj, m, None)) for m in ESTIMATOR_METHODS)


def describe(obj) -> str:
    if isinstance(obj, type) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"a {type(obj).__name__} object"


def not_an_estimator(name: str) -> UserCodeError:
    return UserCodeError(f"{name} is not a scikit-learn estimator (it needs fit, get_params and set_params)")


def new_estimator(key: str):
    """A fresh, unfitted estimator for ``key`` (an import path or a registered object).

    A class is instantiated with no arguments, a factory function is called, an estimator instance
    (registered object, or a module-level instance) is cloned.
    """
    obj = resolve(key)
    name = key if is_import_path(key) else describe(obj)
    if isinstance(obj, type):
        if not is_estimator(obj):
            raise not_an_estimator(name)
        try:
            est = obj()
        except Exception as e:  # noqa: BLE001
            raise UserCodeError(f"{name}() raised {type(e).__name__}: {_first_line(e)}") from None
    elif is_estimator(obj):
        from sklearn.base import clone

        est = clone(obj)
    elif callable(obj):
        try:
            est = obj()
        except Exception as e:  # noqa: BLE001
            raise UserCodeError(f"{name}() raised {type(e).__name__}: {_first_line(e)}") from None
        if not is_estimator(est):
            raise UserCodeError(f"{name}() returned {describe(est)}, not a scikit-learn estimator "
                                "(it needs fit, get_params and set_params)")
    else:
        raise not_an_estimator(name)
    return est


def estimator_tasks(est) -> list[str]:
    """classification / regression from scikit-learn's tags; neither: both (the label decides)."""
    from sklearn.base import is_classifier, is_regressor

    tasks = [t for t, ok in (("classification", is_classifier(est)), ("regression", is_regressor(est))) if ok]
    return tasks or ["classification", "regression"]


def objective_function(key: str):
    fn = resolve(key)
    if not callable(fn) or isinstance(fn, type):
        raise UserCodeError(f"{key if is_import_path(key) else describe(fn)} is not a function "
                            "(an objective is objective(params, data, budget) -> score)")
    return fn


# --------------------------------------------------------------------------- objects (Python API)
def register(obj, kind: str) -> str:
    """Keep ``obj`` for this process and return its key; its cloudpickle bytes ship to executors (by value
    when its module is local and not installed: see the module docstring)."""
    from pyspark import cloudpickle

    local = local_package(obj)
    if local is not None and not _by_value_already(cloudpickle, local):
        cloudpickle.register_pickle_by_value(sys.modules[local])
        try:
            blob = cloudpickle.dumps(obj)
        finally:
            cloudpickle.unregister_pickle_by_value(sys.modules[local])
    else:
        blob = cloudpickle.dumps(obj)
    base = getattr(obj, "__qualname__", None) or type(obj).__name__
    base = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[:60]
    key = f"{OBJECT_PREFIX}{kind}.{base}-{hashlib.sha1(blob).hexdigest()[:10]}"
    _OBJECTS[key] = obj
    _BLOBS[key] = blob
    return key


def module_of(obj) -> str | None:
    """The module that defines ``obj`` (a class or function: its own; an instance: its class's)."""
    if isinstance(obj, type) or inspect.isfunction(obj) or inspect.ismethod(obj):
        return getattr(obj, "__module__", None)
    return type(obj).__module__


def local_package(obj) -> str | None:
    """The top-level package of ``obj``'s module when that module is local and not installed (imported
    from a folder on ``sys.path`` outside site-packages and the standard library, and no installed
    distribution provides it); None otherwise (``__main__`` and closures ship by value anyway)."""
    name = module_of(obj)
    if not name or name == "__main__" or name.startswith(("builtins", "hyperspark", "pyspark")):
        return None
    top = name.partition(".")[0]
    module = sys.modules.get(top)
    where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", []) or []), None)
    if module is None or where is None or top in _installed_tops():
        return None
    where = os.path.realpath(where)
    return None if any(where.startswith(root + os.sep) for root in _install_roots()) else top


def _install_roots() -> list[str]:
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    roots = [paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    roots += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    roots.append(site.getusersitepackages())
    return sorted({os.path.realpath(r) for r in roots if r})


def _installed_tops() -> set[str]:
    """Top-level names installed distributions provide (an editable install is installed too)."""
    from importlib.metadata import packages_distributions

    return set(packages_distributions())


def _by_value_already(cloudpickle, top: str) -> bool:
    return top in cloudpickle.list_registry_pickle_by_value()


def registered(key: str):
    try:
        return _OBJECTS[key]
    except KeyError:
        raise UserCodeError(f"{key} is an object passed to hyperspark.tune in another process; "
                            "pass it again, or name it by import path (module:name)") from None


def payload(key: str) -> bytes | None:
    """The bytes executors need to rebuild ``key`` (None for import paths and registry keys)."""
    return _BLOBS.get(key) if is_object_key(key) else None


def ensure(key: str, blob: bytes | None) -> None:
    """Executor side: make ``key`` resolvable from its shipped bytes (once per Python worker)."""
    if blob is not None and key not in _OBJECTS:
        from pyspark import cloudpickle

        _OBJECTS[key] = cloudpickle.loads(blob)


# --------------------------------------------------------------------------- objectives
def call_objective(fn, params: dict, data, budget, report, trial=None):
    """fn(params, data, budget[, report][, trial]): ``report`` is passed when the function takes it (by
    name or ``**kwargs``); ``trial`` (a :class:`~hyperspark.job.executors.trial.TrialInfo`) only when it
    names a parameter ``trial``, so an existing ``**kwargs`` objective never receives an unexpected key."""
    try:
        sig = inspect.signature(fn)
        takes_report = "report" in sig.parameters or any(
            p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    except (TypeError, ValueError):
        sig, takes_report = None, False
    kwargs = {"report": report} if takes_report else {}
    if trial is not None and takes_trial(fn, sig):
        kwargs["trial"] = trial
    return fn(params, data, budget, **kwargs)


def takes_trial(fn, sig=None) -> bool:
    """Does the objective name a parameter ``trial`` (keyword-passable)?"""
    try:
        sig = sig or inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    p = sig.parameters.get("trial")
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        if hasattr(v, "item") and getattr(v, "shape", None) == ():  # numpy 0-d / scalar
            v = v.item()
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                return None
        else:
            return None
    return float(v)


def objective_score(value) -> tuple[float, dict[str, float]]:
    """An objective's return -> (score, extra metrics). Anything else: ValueError with one line."""
    extra: dict[str, float] = {}
    if isinstance(value, dict):
        if "score" not in value:
            raise ValueError(f"objective returned a dict without 'score' (keys: {', '.join(map(str, value))})")
        raw = value["score"]
        for k, v in value.items():
            if k != "score":
                f = _number(v)
                if f is not None:
                    extra[str(k)] = f
    else:
        raw = value
    score = _number(raw)
    if score is None:
        shown = repr(raw)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ValueError(f"objective returned {type(raw).__name__} {shown}; expected a number or a dict "
                         "with a numeric 'score'")
    if not math.isfinite(score):
        raise ValueError(f"objective returned a non-finite score ({score})")
    return score, extra


# --------------------------------------------------------------------------- executor import check
def preload(key: str, blob: bytes | None) -> str | None:
    """Import (or unpickle) ``key`` in this Python worker: None when fine, else one line naming the module."""
    try:
        ensure(key, blob)
        if is_import_path(key):
            module = key.partition(":")[0]
            importlib.import_module(module)
            resolve(key)
        return None
    except ImportError as e:
        mod = getattr(e, "name", None) or (key.partition(":")[0] if is_import_path(key) else "?")
        return f"module {mod!r} is not importable ({type(e).__name__}: {_first_line(e)})"
    except UserCodeError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - unpickling ran the user's module and it raised
        return f"{type(e).__name__}: {_first_line(e)}"
