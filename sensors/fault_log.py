"""Log a sensor's status once per change, so a dead sensor does not flood the buoy's SD card.

A buoy samples every few minutes for weeks; a sensor that stays broken would otherwise write
the same warning thousands of times. ``FaultLog`` remembers the last status and logs only
transitions: a fault at WARNING, a recovery at INFO, sleep and warm-up at DEBUG.
"""

from __future__ import annotations

import logging

from nemopi.sensor_status import SensorStatus

_QUIET = (SensorStatus.OK, SensorStatus.WARMING_UP, SensorStatus.ASLEEP)


class FaultLog:
    """The status history of one sensor, as far as the log needs it."""

    def __init__(self, logger: logging.Logger, sensor: str) -> None:
        self._logger = logger
        self._sensor = sensor
        self._last: SensorStatus | None = None

    def update(self, status: SensorStatus, detail: str = "") -> None:
        """Record ``status``; log it only when it differs from the previous one."""
        if status is self._last:
            return
        previous, self._last = self._last, status
        if status not in _QUIET:
            self._logger.warning("%s: %s %s", self._sensor, status.name, detail)
        elif previous is not None and previous not in _QUIET:
            self._logger.info("%s: recovered (%s)", self._sensor, status.name)
        else:
            self._logger.debug("%s: %s", self._sensor, status.name)
