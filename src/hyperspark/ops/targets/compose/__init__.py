"""The compose target: the compose.yaml stack (Spark master, scalable workers, HDFS, a tools container for
the driver) on a Docker engine. ``ComposeTarget`` is the entry point (``hyperspark.targets``: ``compose``)."""
from hyperspark.ops.targets.compose.engine import compose_command, compose_file
from hyperspark.ops.targets.compose.hdfs import parse_hdfs_path
from hyperspark.ops.targets.compose.settings import ComposeSettings
from hyperspark.ops.targets.compose.target import ComposeTarget

__all__ = ["ComposeSettings", "ComposeTarget", "compose_command", "compose_file", "parse_hdfs_path"]
