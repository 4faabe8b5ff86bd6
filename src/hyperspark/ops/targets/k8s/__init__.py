"""The k8s target: Spark standalone + HDFS from ``k8s/`` on any Kubernetes, through the official client.
``K8sTarget`` is the entry point (``hyperspark.targets``: ``k8s``)."""
from hyperspark.ops.targets.k8s.api import connect
from hyperspark.ops.targets.k8s.settings import K8sSettings
from hyperspark.ops.targets.k8s.target import K8sTarget

__all__ = ["K8sSettings", "K8sTarget", "connect"]
