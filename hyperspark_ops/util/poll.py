"""Polling: wait until something is true, on tenacity (one helper for every target)."""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from hyperspark_ops.model import OpsError

T = TypeVar("T")


def _poll(predicate: Callable[[], T], timeout: float, interval: float) -> T:
    """Call ``predicate`` until it returns something truthy; RetryError after ``timeout`` s.

    Exceptions from ``predicate`` propagate at once (a process that died is an answer, not a retry).
    """
    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval),
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
