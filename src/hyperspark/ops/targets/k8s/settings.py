"""The k8s target's settings: where the cluster lives (env ``HYPERSPARK_K8S_*``)."""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from hyperspark.ops.settings import TargetSettings


class K8sSettings(TargetSettings):
    """Where the cluster lives: namespace, overlay, kubeconfig and context (env ``HYPERSPARK_K8S_*``)."""

    refused: ClassVar[dict[str, str]] = dict.fromkeys(
        ("gpus_per_worker", "gpu_addresses"),
        "k8s GPU workers come from the gpu overlay: HYPERSPARK_K8S_OVERLAY=overlays/gpu (see docs/gpus.md)")

    namespace: str = Field("hyperspark", validation_alias="HYPERSPARK_K8S_NAMESPACE")
    overlay: str = Field("overlays/dev", validation_alias="HYPERSPARK_K8S_OVERLAY")
    kubeconfig: str | None = Field(None, validation_alias="HYPERSPARK_K8S_KUBECONFIG")
    context: str | None = Field(None, validation_alias="HYPERSPARK_K8S_CONTEXT")

