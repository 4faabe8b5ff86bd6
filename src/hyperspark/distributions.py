"""Search-space helpers: ``hyperspark.int(10, 300)`` is the spec's ``{int: [10, 300]}``, and so on.

They return plain dicts, the spec's own spelling, so a space built in Python and one read from YAML are the
same thing (``result.spec_yaml()`` shows it).
"""
from __future__ import annotations

import builtins


def int(low, high) -> dict:  # noqa: A001 - hyperspark.int mirrors the spec's {int: [lo, hi]}
    """An integer drawn uniformly from [low, high] (both included)."""
    return {"int": [low, high]}


def uniform(low, high) -> dict:
    """A float drawn uniformly from [low, high]."""
    return {"uniform": [low, high]}


def loguniform(low, high) -> dict:
    """A float drawn uniformly on a log scale from [low, high] (low > 0)."""
    return {"loguniform": [low, high]}


def choice(*values) -> dict:
    """One of ``values``: ``choice("gini", "entropy")`` or ``choice(["gini", "entropy"])``."""
    if builtins.len(values) == 1 and builtins.isinstance(values[0], (builtins.list, builtins.tuple)):
        values = values[0]
    return {"choice": builtins.list(values)}
