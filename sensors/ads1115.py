"""TI ADS1115 16-bit ADC: single-shot conversions that always finish within a known time.

Why it exists: the turbidity probe and the NO2/NO cells are analog parts; this module is the only
code that speaks the ADS1115's register protocol, so the sensors above it deal in volts. Its
register access is shared with the INA219 driver (``sensors.ti_registers``).

What it promises: ``Ads1115.read`` returns a voltage or raises a ``SensorError`` (never a
plausible number for a failed conversion) within ``conversion_deadline_s(rate)``.

Datasheet facts relied on (TI ADS111x, SBAS444; nemopi SENSORS.md §5.2 [ADS1]-[ADS5]):

- Writing a register: pointer byte, then MSB, then LSB. Reading returns the register the last
  pointer write selected, MSB first. Pointer 0x00 = conversion (read-only), 0x01 = config.
- Config: OS(15) MUX(14:12) PGA(11:9) MODE(8) DR(7:5) COMP_MODE(4) COMP_POL(3) COMP_LAT(2)
  COMP_QUE(1:0); reset value 0x8583. Writing OS=1 in single-shot mode starts one conversion;
  reading OS gives 0 while converting and 1 when idle.
- PGA full scale 6.144/4.096/2.048/1.024/0.512/0.256 V (codes 5-7 all 0.256 V). The conversion
  register is two's complement, LSB = FSR/32768; at or beyond full scale it saturates at
  0x7FFF/0x8000 ([ADS5]: a reading stuck at 0x7FFF means overrange or a wrong MUX).
- Data rates 8, 16, 32, 64, 128, 250, 475, 860 SPS; a single-shot conversion takes one data
  period. The datasheet allows the data rate to be 10 % off, so the deadline is two periods
  plus 2 ms (⚠ margin chosen here for the wake-up from power-down and bus latency).
- Right after the start write the device is converting (OS=0). A chip that already reads idle
  then did not start a conversion and its register holds an old result: STALE. The check is
  made only when the data period is long enough (``STALE_CHECK_MIN_PERIOD_S``) that one I2C
  transaction at 100 kHz cannot outlast a healthy conversion (⚠ timing argument, not from TI).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sensors.clock import Clock, SystemClock
from sensors.errors import DeviceTimeout, GarbageResponse, OutOfRange, bus_errors
from sensors.ti_registers import (
    RegisterBus,
    StaleConversion,
    read_register,
    to_signed16,
    write_register,
)

DEFAULT_ADDRESS = 0x48  # ADDR pin to GND
REG_CONVERSION = 0x00
REG_CONFIG = 0x01
CONFIG_RESET = 0x8583

OS_BIT = 0x8000
COMPARATOR_DISABLED = 0b11
CODE_MAX = 0x7FFF
CODE_MIN = -0x8000
STALE_CHECK_MIN_PERIOD_S = 0.004
DEADLINE_MARGIN_S = 0.002

FULL_SCALE_V = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256)  # by PGA code
SAMPLES_PER_S = (8, 16, 32, 64, 128, 250, 475, 860)  # by DR code


class Mux(IntEnum):
    """Input multiplexer (config bits 14:12): differential pairs, then single-ended to GND."""

    AIN0_AIN1 = 0
    AIN0_AIN3 = 1
    AIN1_AIN3 = 2
    AIN2_AIN3 = 3
    AIN0 = 4
    AIN1 = 5
    AIN2 = 6
    AIN3 = 7

    @classmethod
    def single_ended(cls, channel: int) -> Mux:
        if not 0 <= channel <= 3:
            raise ValueError(f"ADS1115 channel must be 0-3, not {channel}")
        return cls(cls.AIN0 + channel)


class Pga(IntEnum):
    """Programmable gain (config bits 11:9), named by full-scale range."""

    FSR_6_144V = 0
    FSR_4_096V = 1
    FSR_2_048V = 2
    FSR_1_024V = 3
    FSR_0_512V = 4
    FSR_0_256V = 5


class DataRate(IntEnum):
    """Data rate (config bits 7:5), named by samples per second."""

    SPS_8 = 0
    SPS_16 = 1
    SPS_32 = 2
    SPS_64 = 3
    SPS_128 = 4
    SPS_250 = 5
    SPS_475 = 6
    SPS_860 = 7

    @property
    def period_s(self) -> float:
        """One data period: how long a single-shot conversion takes at this rate."""
        return 1.0 / SAMPLES_PER_S[self]


@dataclass(frozen=True, slots=True)
class Config:
    """The config register, field by field. ``pga`` is the raw 3-bit code (5-7 are all 0.256 V)."""

    os: bool
    mux: Mux
    pga: int
    single_shot: bool
    rate: DataRate
    comp_mode: int = 0
    comp_pol: int = 0
    comp_lat: int = 0
    comp_que: int = COMPARATOR_DISABLED

    @classmethod
    def from_word(cls, word: int) -> Config:
        return cls(
            os=bool(word & OS_BIT),
            mux=Mux((word >> 12) & 0b111),
            pga=(word >> 9) & 0b111,
            single_shot=bool(word & 0x0100),
            rate=DataRate((word >> 5) & 0b111),
            comp_mode=(word >> 4) & 1,
            comp_pol=(word >> 3) & 1,
            comp_lat=(word >> 2) & 1,
            comp_que=word & 0b11,
        )

    def word(self) -> int:
        return (
            (OS_BIT if self.os else 0)
            | self.mux << 12
            | self.pga << 9
            | (0x0100 if self.single_shot else 0)
            | self.rate << 5
            | self.comp_mode << 4
            | self.comp_pol << 3
            | self.comp_lat << 2
            | self.comp_que
        )

    @property
    def full_scale_v(self) -> float:
        return FULL_SCALE_V[self.pga]


def single_shot_word(mux: Mux, pga: Pga, rate: DataRate) -> int:
    """The config word that starts one conversion, comparator disabled."""
    return Config(os=True, mux=mux, pga=pga, single_shot=True, rate=rate).word()


def code_to_volts(code: int, full_scale_v: float) -> float:
    return code * full_scale_v / 32768


def conversion_deadline_s(rate: DataRate) -> float:
    """The longest a driver waits for one conversion before it reports TIMEOUT."""
    return 2 * rate.period_s + DEADLINE_MARGIN_S


class Ads1115:
    """One ADS1115 on a bus the caller owns; each ``read`` is one bounded single-shot conversion."""

    def __init__(
        self, bus: RegisterBus, address: int = DEFAULT_ADDRESS, clock: Clock | None = None
    ) -> None:
        self.bus = bus
        self.address = address
        self.clock = clock or SystemClock()

    def read(self, mux: Mux, pga: Pga, rate: DataRate) -> float:
        """Volts on ``mux`` (input pin minus its reference); raises ``SensorError`` on a fault."""
        word = single_shot_word(mux, pga, rate)
        with bus_errors(f"ADS1115 at {self.address:#04x}"):
            self._convert(word, rate)
            code = to_signed16(read_register(self.bus, self.address, REG_CONVERSION))
        if code in (CODE_MAX, CODE_MIN):
            raise OutOfRange(f"{mux.name} saturated at full scale (code {code})")
        return code_to_volts(code, FULL_SCALE_V[pga])

    def _convert(self, word: int, rate: DataRate) -> None:
        """Start a conversion and poll OS until idle, within the deadline."""
        period = rate.period_s
        deadline = self.clock.monotonic() + conversion_deadline_s(rate)
        write_register(self.bus, self.address, REG_CONFIG, word)
        if period >= STALE_CHECK_MIN_PERIOD_S and self._idle(word):
            raise StaleConversion("the ADC reports idle right after a start: no conversion ran")
        self.clock.sleep(period)
        while not self._idle(word):
            if self.clock.monotonic() >= deadline:
                raise DeviceTimeout(f"no conversion within {conversion_deadline_s(rate):.4f} s")
            self.clock.sleep(period / 8)

    def _idle(self, written: int) -> bool:
        """The OS bit of the config register, after checking it echoes what was written."""
        config = read_register(self.bus, self.address, REG_CONFIG)
        if config & ~OS_BIT != written & ~OS_BIT:
            raise GarbageResponse(
                f"config reads {config:#06x} after writing {written:#06x}",
                data=config.to_bytes(2, "big"),
            )
        return bool(config & OS_BIT)
