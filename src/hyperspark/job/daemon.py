"""``spark.python.daemon.module=hyperspark.job.daemon``: PySpark's daemon, with the trial libraries
imported BEFORE it forks Python workers.

An executor starts one daemon, which forks one Python worker per concurrent task. With PySpark's own
daemon every worker imports numpy, pandas, scikit-learn and this job's executor code itself: with 16
cores per executor that is 16 imports (~1 s of CPU each) before the first trial. Imported here, once,
the forked workers inherit them (copy-on-write), so warm-up only fetches the broadcast.

Set by the targets that ship this package on their executors (the local target's submit, the images'
spark-defaults.conf). A cluster without ``hyperspark.job`` on the executors' Python path must not set
it: the daemon would not start and every Python task would fail. An import that fails here is skipped
(the worker imports it later, as without this module), so a missing optional library costs nothing.
"""
from __future__ import annotations

import importlib

import os

#: what every Python trial's worker imports: the data's libraries and this job's executor code
BASE = ("numpy", "pandas", "pyarrow", "threadpoolctl", "hyperspark.job.executors.trial",
        "hyperspark.job.executors.pull")
#: what a scikit-learn-style estimator's trial adds: CV, scoring (and what a first fit/predict imports
#: lazily, ~0.2 s per worker otherwise), preprocessing
SKLEARN = ("sklearn.model_selection", "sklearn.metrics", "sklearn.preprocessing")
#: imported before forking when the session did not say what its trials need (the warm driver, a user's
#: session, the images' spark-defaults.conf): every registered scikit-learn family's module
PRELOAD = (*BASE[:4], "sklearn.ensemble", "sklearn.linear_model", *SKLEARN, *BASE[4:])
#: a session started for one spec names its trials' modules here (``spark.executorEnv.``), comma-separated:
#: an objective's workers then skip scikit-learn (1.1 s of imports per executor for sklearn.ensemble alone)
ENV = "HYPERSPARK_PRELOAD"


def modules_for(strategy: str, classes: list[tuple[str, str]]) -> list[str]:
    """What the workers of a session for one spec import before forking; ``classes``: (library,
    "module:Class") of every model family the search may pick. Only libraries the kit knows
    (scikit-learn's modules): a user's own module, or xgboost/lightgbm/torch, may start threads or a GPU
    context at import, which a fork would then copy half-made; those the worker imports itself."""
    if strategy != "trials":  # an objective (user code) or MLlib (the fits run in the JVM)
        return list(BASE)
    mods = [*BASE, *SKLEARN]
    for library, path in classes:
        module = path.split(":", 1)[0]
        if library == "sklearn" and module.startswith("sklearn.") and module not in mods:
            mods.append(module)
    return mods


def preload() -> list[str]:
    """Import the session's modules (``HYPERSPARK_PRELOAD``, else PRELOAD); the names that could not be
    imported (never raises)."""
    named = [m.strip() for m in os.environ.get(ENV, "").split(",") if m.strip()]
    missing = []
    for name in named or PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - optional here; a worker that needs it reports it
            missing.append(name)
    return missing


if __name__ == "__main__":
    preload()
    from pyspark import daemon

    daemon.manager()
