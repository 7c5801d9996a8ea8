"""Log when something starts failing and when it recovers, once per transition.

Below the data layer, so storage and cache code need not import the logging set-up of :mod:`app_logging`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any


class StateLog:
    """Logs when something starts failing and when it recovers — once per transition (per process), not per call."""

    def __init__(self, logger: logging.Logger, what: str, **fields: Any) -> None:
        self._logger = logger
        self._what = what
        self._fields = fields
        self._failing = False
        self._lock = threading.Lock()

    def failed(self, error: object) -> None:
        """Record a failed check; logs a warning the first time after success."""
        with self._lock:
            if self._failing:
                return
            self._failing = True
        self._logger.warning("%s failing: %s", self._what, error, extra={**self._fields, "error": str(error)})

    def recovered(self) -> None:
        """Record a successful check; logs the recovery the first time after a failure."""
        if not self._failing:  # the common case, without taking the lock
            return
        with self._lock:
            if not self._failing:
                return
            self._failing = False
        self._logger.info("%s recovered", self._what, extra=self._fields)
