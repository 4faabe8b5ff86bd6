"""The one free-port helper of the test suite.

Ports come from ``HYPERSPARK_TEST_PORT_RANGE=LO-HI`` (default 20000-29999): shared machines hand
each developer a range. A block is checked free with the same rule the tool uses
(:func:`hyperspark.ops.util.net.port_free`).
"""
from __future__ import annotations

import os
import random

from hyperspark.ops.util.net import port_free


def port_range() -> tuple[int, int]:
    lo, _, hi = os.environ.get("HYPERSPARK_TEST_PORT_RANGE", "20000-29999").partition("-")
    return int(lo), int(hi)


def free_port_block(size: int = 1, ok=None) -> int:
    """First port of ``size`` consecutive free ports in the range (``ok(start)`` may veto a start)."""
    lo, hi = port_range()
    starts = list(range(lo, hi - size + 2))
    random.shuffle(starts)
    for start in starts[:2000]:
        if all(port_free(p) for p in range(start, start + size)) and (ok is None or ok(start)):
            return start
    raise RuntimeError(f"no {size} consecutive free ports in {lo}-{hi}")


def free_port() -> int:
    return free_port_block(1)
