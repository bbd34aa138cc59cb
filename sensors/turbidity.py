"""Turbidity in NTU from a DFRobot SEN0189 probe read through an ADS1115 channel.

Why it exists: visibility, the dive operators' first question, is derived from turbidity.
What it promises: one ``turbidity`` reading per ``read()``, in NTU, or no value and a status
that names the fault; never an exception for a device fault.

Facts relied on (SENSORS.md §5.1, [T1] [T2] [T3]):

- The probe runs on 5 V and its analog output (switch on "A") falls from about 4.2 V in clear
  water as turbidity rises; it never exceeds 4.5 V in analog mode. A reading stuck near 5 V
  means the switch is on "D" (digital threshold): reported OUT_OF_RANGE, no value.
- Vendor curve for a 5 V supply: NTU = -1120.4 V² + 5742.3 V - 4352.9, valid only for
  2.5 V <= V <= 4.2 V (about 3000 NTU at 2.5 V, "0 at 4.2 V"). The rounded 4.2 V is not the
  curve's zero: the curve gives 0.904 NTU there and crosses zero at 4.20025 V, so
  ``CURVE_ZERO_V`` is computed from the coefficients (the falling branch's root) rather than
  written down; otherwise readings would jump from 0 to 0.9 NTU at 4.2 V and a clear-water
  calibration would leave every reading 0.9 NTU high. Above the zero the curve goes negative;
  the vendor clamps to 0 and so does this driver. Below 2.5 V the curve turns back down
  (its peak is at 2.563 V), so a darker reading cannot be told apart: OUT_OF_RANGE, no value.
- The ADS1115 runs at 3.3 V and its inputs must stay below VDD + 0.3 V, so the probe output
  reaches the ADC through a resistive divider; ``divider_ratio`` is probe volts per ADC volt
  (2.0 for two equal resistors, the default ⚠ wiring assumption). The ADC reads it single-ended
  at ±4.096 V full scale, 128 SPS (config 0xC383 on AIN0).

Calibration (the part's only one): in clear water the probe should read ``CURVE_ZERO_V``, but
probes and supplies differ. ``calibrate_clear_water()`` measures the clear-water voltage and
shifts every later reading by the difference, so clear water reads exactly 0 NTU. Without
one the vendor curve applies unshifted and the reading says NOT_CALIBRATED. A shift larger than
``MAX_OFFSET_V`` (⚠ 0.5 V, chosen here) means the water was not clear or the probe is faulty,
and is refused. Proper formazin calibration is out of scope [T1].

Power: ``power`` is the probe's supply switch (``sensors.power_switch``); without one the probe
is on the permanent rail, powered since the driver was built, or since ``powered_at`` (the
clock's monotonic time) when the caller knows better. With the supply off ``read()`` reports
ASLEEP without touching the bus. Warm-up: no figure is published for the probe's LED and output
filter; ⚠ ``warmup_s`` = 2 s. During it the probe is read and its value reported WARMING_UP.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from nemopi.sensor_status import SensorStatus
from sensors.ads1115 import DEFAULT_ADDRESS, Ads1115, DataRate, Mux, Pga
from sensors.clock import Clock, SystemClock
from sensors.errors import OutOfRange, SensorError
from sensors.fault_log import FaultLog
from sensors.power_switch import PowerState, power_for, readiness
from sensors.reading import Reading, failed
from sensors.ti_registers import RegisterBus

log = logging.getLogger(__name__)

CURVE = (-1120.4, 5742.3, -4352.9)  # a, b, c of a V² + b V + c
CURVE_MIN_V = 2.5
ANALOG_MAX_V = 4.5
MAX_OFFSET_V = 0.5
PGA = Pga.FSR_4_096V
RATE = DataRate.SPS_128


def curve_ntu(volts: float) -> float:
    """The vendor polynomial at ``volts``, as it stands: no window, no clamp."""
    a, b, c = CURVE
    return (a * volts + b) * volts + c


def curve_volts(ntu: float) -> float:
    """The voltage at which the vendor curve gives ``ntu``, on its falling (valid) branch.

    The larger root of a V² + b V + c - ntu = 0 (a < 0). Above the curve's peak, about 3005 NTU
    at 2.563 V, no voltage gives ``ntu``: the peak's voltage, the darkest the curve can show,
    is returned.
    """
    a, b, c = CURVE
    return (-b - math.sqrt(max(0.0, b * b - 4 * a * (c - ntu)))) / (2 * a)


CURVE_ZERO_V = curve_volts(0.0)  # 4.20025 V: clear water on the vendor curve


def ntu_from_volts(volts: float) -> float:
    """The vendor curve over its valid window; raises ``OutOfRange`` outside what it can tell.

    At and above ``CURVE_ZERO_V`` the answer is exactly 0: the polynomial there is negative, or
    at the root a rounding residue (about 1e-12 NTU) that clear water must not show.
    """
    if volts > ANALOG_MAX_V:
        raise OutOfRange(f"probe output {volts:.3f} V is above the analog range (switch on D?)")
    if volts < CURVE_MIN_V:
        raise OutOfRange(f"probe output {volts:.3f} V is below the curve's {CURVE_MIN_V} V")
    if volts >= CURVE_ZERO_V:
        return 0.0
    return max(0.0, curve_ntu(volts))


@dataclass(frozen=True, slots=True)
class TurbidityCalibration:
    """A clear-water calibration. ``calibrated_utc`` identifies it (its version on the wire)."""

    clear_water_v: float  # probe output in clear water, volts at the probe
    calibrated_utc: float

    @property
    def offset_v(self) -> float:
        """What is added to every probe voltage so that clear water reads 0 NTU."""
        return CURVE_ZERO_V - self.clear_water_v


class TurbidityProbe:
    """SEN0189 on one ADS1115 input; a ``Sensor`` and a context manager."""

    name = "turbidity"
    quantities = ("turbidity",)
    warmup_s = 2.0

    def __init__(
        self,
        bus: RegisterBus,
        *,
        address: int = DEFAULT_ADDRESS,
        channel: int = 0,
        divider_ratio: float = 2.0,
        calibration: TurbidityCalibration | None = None,
        clock: Clock | None = None,
        powered_at: float | None = None,
        power: PowerState | None = None,
    ) -> None:
        if divider_ratio < 1.0:
            raise ValueError("divider_ratio is probe volts per ADC volt and cannot be below 1")
        clock = clock or SystemClock()
        self._adc = Ads1115(bus, address, clock)
        self._mux = Mux.single_ended(channel)
        self._divider_ratio = divider_ratio
        self.calibration = calibration
        self._power = power_for(clock, self.warmup_s, power, since=powered_at)
        self._faults = FaultLog(log, self.name)
        self._closed = False

    def probe_volts(self) -> float:
        """The probe's output voltage now; raises ``SensorError`` on a fault."""
        if self._closed:
            raise ValueError(f"{self.name} is closed")
        return self._adc.read(self._mux, PGA, RATE) * self._divider_ratio

    def read(self) -> list[Reading]:
        if readiness(self._power) is SensorStatus.ASLEEP:
            self._faults.update(SensorStatus.ASLEEP)
            return failed(self.quantities, SensorStatus.ASLEEP)
        offset = self.calibration.offset_v if self.calibration else 0.0
        try:
            ntu = ntu_from_volts(self.probe_volts() + offset)
        except SensorError as exc:
            self._faults.update(exc.status, str(exc))
            return failed(self.quantities, exc.status)
        status = self._status()
        self._faults.update(status)
        return [Reading("turbidity", ntu, status)]

    def _status(self) -> SensorStatus:
        if readiness(self._power) is SensorStatus.WARMING_UP:
            return SensorStatus.WARMING_UP
        if self.calibration is None:
            return SensorStatus.NOT_CALIBRATED
        return SensorStatus.OK

    def calibrate_clear_water(self, samples: int = 8) -> TurbidityCalibration:
        """Measure clear water now, adopt the result and return it for the buoy to store.

        Raises ``SensorError`` when a sample fails and ``OutOfRange`` when the clear-water
        voltage is too far from the curve's zero to be clear water on a healthy probe.
        """
        if samples < 1:
            raise ValueError("samples must be at least 1")
        clear_water_v = sum(self.probe_volts() for _ in range(samples)) / samples
        calibration = TurbidityCalibration(clear_water_v, self._adc.clock.utc())
        if abs(calibration.offset_v) > MAX_OFFSET_V:
            raise OutOfRange(
                f"clear water reads {clear_water_v:.3f} V, more than {MAX_OFFSET_V} V "
                f"from the curve's {CURVE_ZERO_V:.4f} V zero"
            )
        self.calibration = calibration
        log.info("%s: clear-water calibration %.4f V", self.name, clear_water_v)
        return calibration

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> TurbidityProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
