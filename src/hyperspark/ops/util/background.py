"""Run one function in a thread now and collect its value (or its exception) later."""
from __future__ import annotations

import threading
from typing import Any, Callable


class Background:
    """Run ``fn`` in a thread now; ``result()`` joins it and returns its value or raises its exception."""

    def __init__(self, fn: Callable[[], Any], name: str) -> None:
        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
