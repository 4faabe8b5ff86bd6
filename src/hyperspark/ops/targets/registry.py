"""Name -> Target class, from the ``hyperspark.targets`` entry-point group.

The three built-in targets are declared in this project's ``pyproject.toml``; a fourth can live in
its own package and declare itself the same way::

    [project.entry-points."hyperspark.targets"]
    yarn = "hyperspark_yarn:YarnTarget"

Classes are imported lazily (only the chosen one), so a missing optional dependency (docker SDK,
kubernetes client) only matters for the target that needs it, and ``--help`` stays fast.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import import_module, metadata
from pathlib import Path

from hyperspark.ops.model import OpsError
from hyperspark.ops.targets.base import Target

GROUP = "hyperspark.targets"

#: the built-in targets, in the order they are listed (also when the package is not installed)
BUILTIN: dict[str, str] = {
    "local": "hyperspark.ops.targets.local:LocalTarget",
    "compose": "hyperspark.ops.targets.compose:ComposeTarget",
    "k8s": "hyperspark.ops.targets.k8s:K8sTarget",
}


@lru_cache(maxsize=1)
def targets() -> dict[str, str]:
    """Every registered target: the built-ins first, then others by name."""
    found = {ep.name: ep.value for ep in metadata.entry_points(group=GROUP)}
    out = {name: found.pop(name, value) for name, value in BUILTIN.items()}
    return out | dict(sorted(found.items()))


def target_names() -> list[str]:
    return list(targets())


def target_class(name: str) -> type[Target]:
    registered = targets()
    if name not in registered:
        raise OpsError(f"unknown target {name!r}: choose one of {', '.join(registered)}")
    module_name, _, attr = registered[name].partition(":")
    try:
        cls = getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise OpsError(f"target {name!r} is not available: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Target)):
        raise OpsError(f"target {name!r} ({registered[name]}) is not a hyperspark Target")
    return cls


def get_target(name: str, state_dir: Path | None = None) -> Target:
    """Instantiate the target ``name`` with its state dir (default ``~/.hyperspark/<name>``)."""
    cls = target_class(name)
    if state_dir is None:
        from hyperspark.ops.state import default_state_dir

        state_dir = default_state_dir(name)
    return cls(state_dir=Path(state_dir))
