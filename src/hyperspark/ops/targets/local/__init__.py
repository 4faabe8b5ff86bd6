"""The local target: a real Spark standalone cluster (and optionally HDFS, MLflow, a warm driver) as local
processes. ``LocalTarget`` is the entry point (``hyperspark.targets``: ``local``)."""
from hyperspark.ops.targets.local.settings import LocalSettings
from hyperspark.ops.targets.local.target import LocalTarget

__all__ = ["LocalSettings", "LocalTarget"]
