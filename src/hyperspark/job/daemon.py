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

#: imported before forking; each one a worker would otherwise import itself on its first trial
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.metrics",  # scoring, and what a first fit/predict imports lazily (~0.2 s per worker otherwise)
    "sklearn.preprocessing",
    "threadpoolctl",
    "hyperspark.job.executors.trial",
    "hyperspark.job.executors.pull",
)


def preload() -> list[str]:
    """Import PRELOAD; the names that could not be imported (never raises)."""
    missing = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - optional here; a worker that needs it reports it
            missing.append(name)
    return missing


if __name__ == "__main__":
    preload()
    from pyspark import daemon

    daemon.manager()
