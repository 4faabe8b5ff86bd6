"""Files the tool ships besides code: the compose file, the k8s tree, the example and benchmark
specs, the Hadoop stand-in build script. Found in ONE place, in this order:

1. a source checkout (editable install): the repository root next to this package;
2. package data (a wheel): ``hyperspark/ops/_data/<name>``, copied there at build time.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
REPO_ROOT = Path(__file__).resolve().parents[3]  # src/hyperspark/ops/resources.py -> the checkout


def find(relative: str) -> Path | None:
    """``relative`` (e.g. ``compose.yaml``, ``k8s``, ``examples/x.yaml``) in the checkout or the wheel."""
    for base in (REPO_ROOT, PACKAGE_DATA):
        path = base / relative
        if path.exists() and (base is PACKAGE_DATA or (REPO_ROOT / "pyproject.toml").is_file()):
            return path
    return None


def compose_file() -> Path | None:
    return find("compose.yaml")
