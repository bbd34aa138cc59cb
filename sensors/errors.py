"""One exception tree for the drivers; each error is also the builtin it resembles.

Drivers raise these internally and turn them into a ``SensorStatus`` at their boundary
(``read()``), so the sampler never sees an exception for a device fault.
``bus_error`` is the one place that says which of them a failed bus transaction (an ``OSError``
from smbus2) means, for every I2C driver.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from nemopi.sensor_status import SensorStatus

# errnos of a transaction nobody acknowledged: EREMOTEIO on NACK, EIO on some adapters ([P4],
# [P4b] in SENSORS.md); ETIMEDOUT is the i2c-bcm2835 clock-stretch timeout ([P1]).
UNREACHABLE_ERRNOS = frozenset({errno.EREMOTEIO, errno.EIO})


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


def bus_error(exc: OSError, what: str) -> SensorError | None:
    """The device fault a failed bus transaction means, or None for a programming error.

    errno 121/5 -> UNREACHABLE, errno 110 -> TIMEOUT. Any other ``OSError`` (a closed bus, a
    wrong bus number) is the caller's mistake: None, and the caller lets it propagate.
    """
    if exc.errno in UNREACHABLE_ERRNOS:
        return DeviceUnreachable(f"{what}: no acknowledge (errno {exc.errno}, {exc.strerror})")
    if exc.errno == errno.ETIMEDOUT:
        return DeviceTimeout(f"{what}: bus timeout (errno {exc.errno}, {exc.strerror})")
    return None


@contextmanager
def bus_errors(what: str) -> Iterator[None]:
    """Raise the ``bus_error`` of an ``OSError`` inside the block; let programming errors pass."""
    try:
        yield
    except OSError as exc:
        error = bus_error(exc, what)
        if error is None:
            raise
        raise error from exc
