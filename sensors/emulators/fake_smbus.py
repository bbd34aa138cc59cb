"""An ``smbus2.SMBus`` stand-in that routes every transaction to emulated chips by address.

Each chip implements ``I2CDevice``: it sees the raw bytes the master writes and answers the
bytes the master reads, exactly as on the wire (no register byte unless the chip has one).
SMBus helper calls are decomposed the way the Linux kernel puts them on the bus, so a driver
that uses ``read_i2c_block_data`` and one that uses ``i2c_rdwr`` both reach the same chip
logic. An address with no chip, or a chip that does not acknowledge, raises
``OSError(errno.EREMOTEIO)`` -- errno 121, what smbus2 raises on a Raspberry Pi.
"""

from __future__ import annotations

import ctypes
import errno
import threading
from collections.abc import Sequence
from typing import Protocol

from smbus2 import i2c_msg

I2C_M_RD = 0x0001


def nack() -> OSError:
    """The error a NACKed transaction raises through smbus2 on Linux."""
    return OSError(errno.EREMOTEIO, "Remote I/O error")


class I2CDevice(Protocol):
    def write(self, data: bytes) -> None:
        """The master wrote ``data`` (START, addr+W, data, STOP). Raise ``nack()`` to NACK."""
        ...

    def read(self, length: int) -> bytes:
        """The master reads ``length`` bytes (START, addr+R, ..., STOP)."""
        ...


class FakeSMBus:
    """The subset of ``smbus2.SMBus`` that drivers use, over emulated chips."""

    def __init__(self, devices: dict[int, I2CDevice] | None = None) -> None:
        self.devices: dict[int, I2CDevice] = dict(devices or {})
        self._lock = threading.Lock()  # one transaction at a time, like the kernel's adapter lock
        self.closed = False
        self.transactions = 0

    def attach(self, address: int, device: I2CDevice) -> None:
        self.devices[address] = device

    def detach(self, address: int) -> None:
        self.devices.pop(address, None)

    def _device(self, address: int) -> I2CDevice:
        if self.closed:
            raise OSError(errno.EBADF, "Bad file descriptor")
        device = self.devices.get(address)
        if device is None:
            raise nack()
        return device

    def i2c_rdwr(self, *messages: i2c_msg) -> None:
        with self._lock:
            self.transactions += 1
            for message in messages:
                device = self._device(message.addr)
                if message.flags & I2C_M_RD:
                    data = device.read(message.len)
                    if len(data) != message.len:
                        raise AssertionError("emulator answered the wrong number of bytes")
                    ctypes.memmove(message.buf, data, message.len)
                else:
                    device.write(bytes(message))

    def _write_read(self, address: int, out: bytes, length: int) -> bytes:
        with self._lock:
            self.transactions += 1
            device = self._device(address)
            device.write(out)
            return device.read(length) if length else b""

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._write_read(i2c_addr, bytes([value]), 0)

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        with self._lock:
            return self._device(i2c_addr).read(1)[0]

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        self._write_read(i2c_addr, bytes([register, value]), 0)

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        return self._write_read(i2c_addr, bytes([register]), 1)[0]

    def write_word_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        # SMBus words are little-endian on the wire.
        self._write_read(i2c_addr, bytes([register, value & 0xFF, (value >> 8) & 0xFF]), 0)

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        low, high = self._write_read(i2c_addr, bytes([register]), 2)
        return low | (high << 8)

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        if len(data) > 32:
            raise ValueError("Data length cannot exceed 32 bytes")
        self._write_read(i2c_addr, bytes([register, *data]), 0)

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        if length > 32:
            raise ValueError("Desired block length over 32 bytes")
        return list(self._write_read(i2c_addr, bytes([register]), length))

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeSMBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
