"""Name -> Target class. Classes are imported lazily so that a missing optional
dependency (docker SDK, kubernetes client) only matters for the target that needs it."""
from __future__ import annotations

import importlib
from pathlib import Path

from hyperspark_ops.targets.base import OpsError, Target

TARGETS: dict[str, str] = {
    "local": "hyperspark_ops.targets.local:LocalTarget",
    "compose": "hyperspark_ops.targets.compose:ComposeTarget",
    "k8s": "hyperspark_ops.targets.k8s:K8sTarget",
}


def target_names() -> list[str]:
    return list(TARGETS)


def get_target(name: str, state_dir: Path | None = None) -> Target:
    """Instantiate the target ``name`` with its state dir (default ``~/.hyperspark/<name>``)."""
    if name not in TARGETS:
        raise OpsError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    module_name, cls_name = TARGETS[name].split(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise OpsError(f"target {name!r} is not available: {exc}") from exc
    if state_dir is None:
        from hyperspark_ops.state import default_state_dir

        state_dir = default_state_dir(name)
    return cls(state_dir=Path(state_dir))
