"""Per-value sensor status: what a driver says about each value it returns.

A failed read is a status with no value, never a plausible-looking number. The numbers are
part of the wire format (docs/wire-format.md): append new members, never renumber.
"""

from enum import IntEnum


class SensorStatus(IntEnum):
    OK = 0
    WARMING_UP = 1  # powered but not yet settled: the value is not trustworthy
    STALE = 2  # the device answered with a reading it had already given
    STUCK = 3  # the same value for longer than the part allows
    UNREACHABLE = 4  # no answer on the bus (NACK, errno 121, missing w1 device)
    CHECKSUM = 5  # CRC or NMEA checksum mismatch
    GARBAGE = 6  # an answer that does not parse
    OUT_OF_RANGE = 7  # parsed, but outside what the part can measure
    NO_FIX = 8  # GPS without a valid fix
    TIMEOUT = 9  # the device did not answer within the read's time bound
    NOT_CALIBRATED = 10  # a value that needs a calibration the part does not have
    POWER_ON_VALUE = 11  # a power-on default (DS18B20's 85 °C), not a measurement
    DEVICE_ERROR = 12  # the device reported an error of its own
    ASLEEP = 13  # powered down by the power policy: no value by design

    @property
    def has_value(self) -> bool:
        """Whether a value may accompany this status (warming-up and stale values may)."""
        return self in (
            SensorStatus.OK,
            SensorStatus.WARMING_UP,
            SensorStatus.STALE,
            SensorStatus.STUCK,
            SensorStatus.NOT_CALIBRATED,
        )
