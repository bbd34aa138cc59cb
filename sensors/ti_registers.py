"""Register access shared by the TI chips on the buoy's I2C bus: the ADS1115 ADC and the INA219
power monitor.

Both put an 8-bit pointer register in front of 16-bit big-endian registers: a write is the
pointer, then MSB, then LSB; a read returns the register the last pointer write selected, MSB
first. SMBus words are little-endian on the wire (SENSORS.md §0), so the registers are moved as
2-byte blocks instead. Both chips can also ignore a conversion trigger, which their drivers
report the same way (``StaleConversion``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from nemopi.sensor_status import SensorStatus
from sensors.errors import SensorError


class RegisterBus(Protocol):
    """The two ``smbus2.SMBus`` calls the register drivers use."""

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]: ...

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None: ...


def read_register(bus: RegisterBus, address: int, register: int) -> int:
    """One 16-bit big-endian register, read as a 2-byte block."""
    data = bus.read_i2c_block_data(address, register, 2)
    return (data[0] << 8) | data[1]


def write_register(bus: RegisterBus, address: int, register: int, value: int) -> None:
    bus.write_i2c_block_data(address, register, [(value >> 8) & 0xFF, value & 0xFF])


def to_signed16(word: int) -> int:
    """A two's complement register (ADS1115 conversion, INA219 shunt and current) as an int."""
    return word - 0x10000 if word & 0x8000 else word


class StaleConversion(SensorError):
    """The chip did not start the conversion it was asked for; its registers are old."""

    status = SensorStatus.STALE
