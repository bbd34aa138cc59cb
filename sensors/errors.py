"""One exception tree for the drivers; each error is also the builtin it resembles.

Drivers raise these internally and turn them into a ``SensorStatus`` at their boundary
(``read()``), so the sampler never sees an exception for a device fault.
"""

from __future__ import annotations

from nemopi.sensor_status import SensorStatus


class SensorError(Exception):
    """Base of every driver error; ``status`` is what the reading reports."""

    status = SensorStatus.DEVICE_ERROR

    def __init__(self, message: str, data: bytes | str | None = None) -> None:
        super().__init__(message)
        self.data = data  # the offending bytes or text, for the log


class DeviceUnreachable(SensorError, OSError):
    status = SensorStatus.UNREACHABLE


class ChecksumError(SensorError, ValueError):
    status = SensorStatus.CHECKSUM


class GarbageResponse(SensorError, ValueError):
    status = SensorStatus.GARBAGE


class DeviceTimeout(SensorError, TimeoutError):
    status = SensorStatus.TIMEOUT


class OutOfRange(SensorError, ValueError):
    status = SensorStatus.OUT_OF_RANGE
