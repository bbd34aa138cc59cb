"""An INA219 that sits behind ``FakeSMBus`` and answers like the chip, faults included.

Why it exists: so the real ``sensors.ina219`` driver runs unchanged in tests and in
``--simulate``, with the simulated buoy supplying battery voltage and current. It decodes the
bytes the master writes: the pointer register, the config word (RST, BRNG, PG, BADC, SADC,
MODE; see ``sensors.ina219.Ina219Config``) and the calibration register (bit 0 reads 0), and it
times each conversion from the ADC settings against the injected clock.

Physics: ``bus_voltage`` (V at IN-, against GND) and ``current`` (A, positive from IN+ to
IN-) are zero-argument callables giving the truth now; ``shunt_ohms`` is the resistor on the
board, so the shunt voltage is current x shunt_ohms.

Registers as the datasheet computes them: shunt = V_shunt / 10 µV (saturating at the PGA range,
with OVF set); bus = V / 4 mV in bits 15:3, CNVR bit 1, OVF bit 0; current = trunc(shunt x Cal /
4096); power = trunc(|current| x bus / 5000) (⚠ magnitude, as the driver assumes). CNVR sets
when a conversion completes and clears when the power register is read or the config is
written. Modes 1-3 convert once per config write; 5-7 convert continuously; 0 and 4 do not
convert. ⚠ A shunt-and-bus conversion takes the shunt time plus the bus time.

Faults (``sensors.emulators.faults``): NACK (the chip vanishes; it comes back with its
registers intact), STALE (the measurement engine froze: triggers are ignored, the registers keep
their last conversion and CNVR reads set), GARBAGE (every read answers random bytes, like an
address clash), SLOW (conversions take ``SLOW_FACTOR`` times their time), SATURATION (the shunt
input is beyond the PGA range: OVF), DRIFT (the shunt reading drifts by ``amount`` amperes per
hour from the moment of injection, default ``DEFAULT_DRIFT_A_PER_H``) and BROWNOUT (the supply
sags as each conversion starts and the chip resets to its power-on state, calibration 0).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from sensors.clock import Clock
from sensors.emulators.fake_smbus import nack
from sensors.emulators.faults import Fault, FaultInjection, FaultSet
from sensors.ina219 import (
    BUS_LSB_V,
    CNVR,
    CONFIG_POR,
    OVF,
    REG_BUS,
    REG_CALIBRATION,
    REG_CONFIG,
    REG_CURRENT,
    REG_POWER,
    REG_SHUNT,
    SHUNT_LSB_V,
    Ina219Config,
)

SLOW_FACTOR = 10.0
DEFAULT_DRIFT_A_PER_H = 0.36
BUS_CODE_MAX = 0x1FFF
RESET_BIT = 0x8000
CONTINUOUS = 0b100


class Ina219Emulator(FaultInjection):
    """The chip: registers, conversion timing and the faults it can show."""

    SUPPORTED_FAULTS = frozenset(
        {
            Fault.NACK,
            Fault.STALE,
            Fault.GARBAGE,
            Fault.SLOW,
            Fault.SATURATION,
            Fault.DRIFT,
            Fault.BROWNOUT,
        }
    )

    def __init__(
        self,
        clock: Clock,
        *,
        bus_voltage: Callable[[], float],
        current: Callable[[], float],
        shunt_ohms: float,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.bus_voltage = bus_voltage
        self.current = current
        self.shunt_ohms = shunt_ohms
        self.faults = FaultSet(
            clock, "INA219", self.SUPPORTED_FAULTS, {Fault.DRIFT: DEFAULT_DRIFT_A_PER_H}
        )
        self.writes: list[bytes] = []  # every write the master made, as on the wire
        self._random = random.Random(seed)
        self.power_on_reset()

    def power_on_reset(self) -> None:
        """Registers to their power-on values, as after a brown-out [I2]."""
        self.pointer = REG_CONFIG
        self.config = Ina219Config.from_word(CONFIG_POR)
        self.calibration = 0
        self.shunt = 0
        self.bus = 0
        self.current_register = 0
        self.power = 0
        self.cnvr = False
        self.ovf = False
        self._busy_until: float | None = None
        self._last_conversion = self.clock.monotonic()

    def write(self, data: bytes) -> None:
        if Fault.NACK in self.faults:
            raise nack()
        self.writes.append(bytes(data))
        self.pointer = data[0]
        if len(data) >= 3:
            self._write_register((data[1] << 8) | data[2])

    def read(self, length: int) -> bytes:
        if Fault.NACK in self.faults:
            raise nack()
        if Fault.GARBAGE in self.faults:
            return self._random.randbytes(length)
        self._settle()
        value = self._register_value() & 0xFFFF
        if self.pointer == REG_POWER:
            self.cnvr = False
        return (value.to_bytes(2, "big") * (length // 2 + 1))[:length]

    def _write_register(self, value: int) -> None:
        if self.pointer == REG_CALIBRATION:
            self.calibration = value & 0xFFFE
        elif self.pointer == REG_CONFIG:
            self._write_config(value)
        # registers 0x01-0x04 are read-only: the chip ignores writes to them

    def _write_config(self, value: int) -> None:
        if Fault.STALE in self.faults:
            self.config = Ina219Config.from_word(value)
            return
        if value & RESET_BIT or Fault.BROWNOUT in self.faults:
            self.power_on_reset()
            return
        self._settle()
        self.config = Ina219Config.from_word(value)
        self.cnvr = False
        now = self.clock.monotonic()
        self._last_conversion = now
        triggered = self.config.mode & 0b011 and not self.config.mode & CONTINUOUS
        self._busy_until = now + self._conversion_time() if triggered else None

    def _conversion_time(self) -> float:
        time = self.config.conversion_time_s
        return time * SLOW_FACTOR if Fault.SLOW in self.faults else time

    def _settle(self) -> None:
        """Finish whatever conversion has had its time by now."""
        if Fault.STALE in self.faults:
            return
        now = self.clock.monotonic()
        if self._busy_until is not None and now >= self._busy_until:
            self._busy_until = None
            self._convert()
        elif (
            self.config.mode & CONTINUOUS
            and self.config.mode & 0b011
            and now - self._last_conversion >= self._conversion_time()
        ):
            self._last_conversion = now
            self._convert()

    def _convert(self) -> None:
        """Sample the physics into the registers, as one conversion would."""
        self.ovf = False
        if self.config.mode & 0b001:
            self.shunt = self._shunt_code()
        if self.config.mode & 0b010:
            bus = round(self.bus_voltage() / BUS_LSB_V)
            self.bus = max(0, min(BUS_CODE_MAX, bus))
        current = math.trunc(self.shunt * self.calibration / 4096)
        self.current_register = self._saturate(current, -0x8000, 0x7FFF)
        power = math.trunc(abs(self.current_register) * self.bus / 5000)
        self.power = self._saturate(power, 0, 0xFFFF)
        self.cnvr = True

    def _shunt_code(self) -> int:
        limit = round(self.config.shunt_range_v / SHUNT_LSB_V)
        if Fault.SATURATION in self.faults:
            self.ovf = True
            return limit
        amps = self.current() + self.faults.drift()
        return self._saturate(round(amps * self.shunt_ohms / SHUNT_LSB_V), -limit, limit)

    def _saturate(self, value: int, low: int, high: int) -> int:
        if low <= value <= high:
            return value
        self.ovf = True
        return max(low, min(high, value))

    def _register_value(self) -> int:
        cnvr = self.cnvr or Fault.STALE in self.faults  # a frozen engine shows its last CNVR
        registers = {
            REG_CONFIG: self.config.word(),
            REG_SHUNT: self.shunt,
            REG_BUS: self.bus << 3 | (CNVR if cnvr else 0) | (OVF if self.ovf else 0),
            REG_POWER: self.power,
            REG_CURRENT: self.current_register,
            REG_CALIBRATION: self.calibration,
        }
        return registers.get(self.pointer, 0)
