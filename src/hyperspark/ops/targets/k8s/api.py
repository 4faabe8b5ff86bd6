"""Reaching a Kubernetes API server with the official client: credentials (kubeconfig or in-cluster),
a proof that the server answers, and the clients of that one server. Any failure is ONE line:
``no Kubernetes API reachable: <reason>``."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hyperspark.job.protocol import one_line

from hyperspark.ops.model import OpsError

UNREACHABLE = "no Kubernetes API reachable"


@dataclass
class Api:
    """The clients of one reachable API server."""

    client: Any  # ApiClient
    core: Any  # CoreV1Api
    apps: Any  # AppsV1Api
    batch: Any  # BatchV1Api
    host: str


def connect(kubeconfig: str | None = None, context: str | None = None, timeout: float = 5.0) -> Api:
    """Load credentials and prove the API server answers; OpsError with the reason otherwise."""
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError as exc:
        raise OpsError(f"{UNREACHABLE}: the kubernetes client is not installed ({exc})") from exc
    cfg = client.Configuration()
    try:
        if kubeconfig or context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
        else:
            config.load_incluster_config(client_configuration=cfg)
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise OpsError(f"{UNREACHABLE}: no usable kubeconfig at {where} ({one_line(exc)})") from exc
    cfg.retries = 0  # fail at once when nothing listens, instead of three silent retries
    api_client = client.ApiClient(cfg)
    try:
        client.VersionApi(api_client).get_code(_request_timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - urllib3/ssl/ApiException all mean "not reachable"
        reason = getattr(exc, "reason", None) or exc
        raise OpsError(f"{UNREACHABLE}: {cfg.host}: {one_line(reason)}") from exc
    return Api(api_client, client.CoreV1Api(api_client), client.AppsV1Api(api_client),
               client.BatchV1Api(api_client), cfg.host)
