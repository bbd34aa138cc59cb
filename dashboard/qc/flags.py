"""QARTOD flag values and what the buoy's own sensor status says about a value.

The numbers are QARTOD's (and ``ioos_qc.qartod.QartodFlags``'s): they are stored in the
database and exported, so they never change. ``status_flags`` turns the status the driver sent
with each value into a flag, so that a value the buoy itself distrusts can never aggregate to
GOOD: a status that says the value is wrong is FAIL, one that says there is no value is
MISSING, one that says the value is real but not yet trustworthy is SUSPECT.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from nemopi.sensor_status import SensorStatus


class Flag(IntEnum):
    GOOD = 1
    NOT_EVALUATED = 2  # the test could not run (no neighbour, no UTC time, no mooring)
    SUSPECT = 3
    FAIL = 4
    MISSING = 9  # no value to test


STATUS_FLAGS: Mapping[SensorStatus, Flag] = MappingProxyType(
    {
        SensorStatus.OK: Flag.GOOD,
        # A value, but one the part itself does not vouch for yet (or any more).
        SensorStatus.WARMING_UP: Flag.SUSPECT,
        SensorStatus.STALE: Flag.SUSPECT,
        SensorStatus.NOT_CALIBRATED: Flag.SUSPECT,
        # The part says the value is frozen beyond what it allows: a measurement it is not.
        SensorStatus.STUCK: Flag.FAIL,
        # The device answered, and what it answered is wrong.
        SensorStatus.CHECKSUM: Flag.FAIL,
        SensorStatus.GARBAGE: Flag.FAIL,
        SensorStatus.OUT_OF_RANGE: Flag.FAIL,
        SensorStatus.POWER_ON_VALUE: Flag.FAIL,
        SensorStatus.DEVICE_ERROR: Flag.FAIL,
        # Nothing was measured: by fault (no answer) or by design (powered down, no fix).
        SensorStatus.UNREACHABLE: Flag.MISSING,
        SensorStatus.TIMEOUT: Flag.MISSING,
        SensorStatus.NO_FIX: Flag.MISSING,
        SensorStatus.ASLEEP: Flag.MISSING,
    }
)

# Indexed by status number: one vectorised lookup per batch. A status number the catalogue of
# statuses does not know (a newer buoy) is FAIL until the dashboard learns it.
_STATUS_TABLE = np.full(256, Flag.FAIL, dtype=np.uint8)
for _status, _flag in STATUS_FLAGS.items():
    _STATUS_TABLE[int(_status)] = int(_flag)


def status_flags(statuses: npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
    """The flag of each sensor status in ``statuses``."""
    known = (statuses >= 0) & (statuses < _STATUS_TABLE.size)
    return np.where(known, _STATUS_TABLE[np.where(known, statuses, 0)], np.uint8(Flag.FAIL))
