"""An ADS1115 that sits behind ``FakeSMBus`` and answers like the chip, faults included.

Why it exists: so the real ``sensors.ads1115`` driver (and the turbidity and gas sensors on top
of it) run unchanged in tests and in ``--simulate``, with the simulated reef supplying the
voltages. It decodes the exact bytes the master writes: the pointer register, the config word
(MUX, PGA, MODE, DR and comparator fields, see ``sensors.ads1115.Config``) and the single-shot
start bit, and it times each conversion from the data rate against the injected clock.

Physics: ``inputs`` maps an input pin (0-3) to a zero-argument callable giving its voltage
against GND now; a pin with no callable reads 0 V. A conversion samples the inputs when it
completes, so the driver sees only what it waited for.

Modelled: single-shot (OS=1 with MODE=1 starts one conversion, OS reads 0 until it completes)
and continuous mode (MODE=0: a new result every data period). Conversion codes round to the
nearest LSB and saturate at 0x7FFF/0x8000. Not modelled: the comparator and ALERT/RDY pin
(the threshold registers are stored and read back only), input limits beyond the PGA range.
⚠ Reading more than 2 bytes repeats the register (the datasheet does not say).

Faults (``sensors.emulators.faults``): NACK (the chip vanishes; it comes back with its
registers intact), STALE (a start is ignored: OS stays idle and the result register keeps its old
value), GARBAGE (every read answers random bytes, like an address clash), SLOW (conversions take
``SLOW_FACTOR`` data periods), SATURATION (the result sits at 0x7FFF as with an overranged input
[ADS5]) and DRIFT (every input drifts by ``amount`` volts per hour from the moment of injection,
default ``DEFAULT_DRIFT_V_PER_H``, like a fouling probe).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from sensors.ads1115 import (
    CODE_MAX,
    CODE_MIN,
    CONFIG_RESET,
    REG_CONFIG,
    REG_CONVERSION,
    Config,
    Mux,
)
from sensors.clock import Clock
from sensors.emulators.fake_smbus import nack
from sensors.emulators.faults import Fault, FaultInjection, FaultSet

SLOW_FACTOR = 10.0
DEFAULT_DRIFT_V_PER_H = -0.036
REG_LO_THRESH = 0x02
REG_HI_THRESH = 0x03

# MUX code -> (positive pin, negative pin or None for GND)
_MUX_PINS: dict[Mux, tuple[int, int | None]] = {
    Mux.AIN0_AIN1: (0, 1),
    Mux.AIN0_AIN3: (0, 3),
    Mux.AIN1_AIN3: (1, 3),
    Mux.AIN2_AIN3: (2, 3),
    Mux.AIN0: (0, None),
    Mux.AIN1: (1, None),
    Mux.AIN2: (2, None),
    Mux.AIN3: (3, None),
}


class Ads1115Emulator(FaultInjection):
    """The chip: registers, conversion timing and the faults it can show."""

    SUPPORTED_FAULTS = frozenset(
        {Fault.NACK, Fault.STALE, Fault.GARBAGE, Fault.SLOW, Fault.SATURATION, Fault.DRIFT}
    )

    def __init__(
        self,
        clock: Clock,
        inputs: Mapping[int, Callable[[], float]] | None = None,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.inputs: dict[int, Callable[[], float]] = dict(inputs or {})
        self.faults = FaultSet(
            clock, "ADS1115", self.SUPPORTED_FAULTS, {Fault.DRIFT: DEFAULT_DRIFT_V_PER_H}
        )
        self.writes: list[bytes] = []  # every write the master made, as on the wire
        self.pointer = REG_CONVERSION
        self.config = Config.from_word(CONFIG_RESET)
        self.conversion = 0  # reads 0 after power-up until the first conversion [ADS3]
        self.thresholds = {REG_LO_THRESH: 0x8000, REG_HI_THRESH: 0x7FFF}
        self._busy_until: float | None = None  # single-shot conversion in progress
        self._continuous_since: float | None = None
        self._random = random.Random(seed)

    def write(self, data: bytes) -> None:
        if Fault.NACK in self.faults:
            raise nack()
        self.writes.append(bytes(data))
        self.pointer = data[0] & 0b11  # pointer bits 7:2 are reserved
        if len(data) >= 3:
            self._write_register((data[1] << 8) | data[2])

    def read(self, length: int) -> bytes:
        if Fault.NACK in self.faults:
            raise nack()
        if Fault.GARBAGE in self.faults:
            return self._random.randbytes(length)
        self._settle()
        value = self._register_value() & 0xFFFF
        return (value.to_bytes(2, "big") * (length // 2 + 1))[:length]

    def _write_register(self, value: int) -> None:
        if self.pointer == REG_CONFIG:
            self._write_config(Config.from_word(value))
        elif self.pointer in self.thresholds:
            self.thresholds[self.pointer] = value
        # the conversion register is read-only: the chip ignores writes to it

    def _write_config(self, config: Config) -> None:
        self._settle()
        self.config = config
        now = self.clock.monotonic()
        if not config.single_shot:
            self._busy_until = None
            self._continuous_since = now
            return
        self._continuous_since = None
        if config.os and self._busy_until is None and Fault.STALE not in self.faults:
            self._busy_until = now + self._conversion_time()

    def _conversion_time(self) -> float:
        period = self.config.rate.period_s
        return period * SLOW_FACTOR if Fault.SLOW in self.faults else period

    def _settle(self) -> None:
        """Finish whatever conversion has had its time by now."""
        now = self.clock.monotonic()
        if self._busy_until is not None and now >= self._busy_until:
            self._busy_until = None
            self.conversion = self._sample()
        elif (
            self._continuous_since is not None
            and now - self._continuous_since >= self._conversion_time()
        ):
            self.conversion = self._sample()

    def _register_value(self) -> int:
        if self.pointer == REG_CONVERSION:
            return self.conversion
        if self.pointer == REG_CONFIG:
            idle = self._busy_until is None and self._continuous_since is None
            return (self.config.word() & 0x7FFF) | (0x8000 if idle else 0)
        return self.thresholds[self.pointer]

    def _sample(self) -> int:
        """The code for the selected input now, as the ADC quantises it."""
        if Fault.SATURATION in self.faults:
            return CODE_MAX
        positive, negative = _MUX_PINS[self.config.mux]
        volts = self._pin(positive) - (self._pin(negative) if negative is not None else 0.0)
        code = round(volts / self.config.full_scale_v * 32768)
        return max(CODE_MIN, min(CODE_MAX, code))

    def _pin(self, pin: int) -> float:
        source = self.inputs.get(pin)
        return (source() if source is not None else 0.0) + self.faults.drift()
