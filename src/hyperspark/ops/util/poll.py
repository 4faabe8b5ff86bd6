"""Polling: wait until something is true, on tenacity (one helper for every target).

Waits back off from ``FIRST_WAIT`` up to the caller's ``interval``: a condition that is almost true
(a port about to open, a worker registering) is seen within tens of milliseconds, while a long wait
still polls only once per ``interval``.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from hyperspark.ops.model import OpsError

T = TypeVar("T")

#: the first pause between two calls of a predicate; it doubles up to the caller's interval
FIRST_WAIT = 0.05


def _poll(predicate: Callable[[], T], timeout: float, interval: float) -> T:
    """Call ``predicate`` until it returns something truthy; RetryError after ``timeout`` s.

    Exceptions from ``predicate`` propagate at once (a process that died is an answer, not a retry).
    """
    first = min(FIRST_WAIT, interval)
    retrying = Retrying(stop=stop_after_delay(timeout),
                        wait=wait_exponential(multiplier=first, min=first, max=interval),
                        retry=retry_if_result(lambda value: not value))
    return retrying(predicate)


def poll_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """The predicate's first truthy value, or None after ``timeout`` seconds."""
    try:
        return _poll(predicate, timeout, interval)
    except RetryError:
        return None


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """The predicate's first truthy value; OpsError naming ``what`` on timeout."""
    try:
        return _poll(predicate, timeout, interval)
    except RetryError:
        raise OpsError(f"timed out after {timeout:.0f}s waiting for {what}") from None
