"""NO2 and NO in ppb from Alphasense B4 electrochemical cells on ISBs, read by an ADS1115.

Why it exists: NOx from shipping and the shore is one of the buoy's air quantities. What it
promises: one reading per configured cell per ``read()`` (``no2``, ``no``), in ppb, or no value
and a status that names the fault; a fault on one cell does not fail the other.

Facts relied on (SENSORS.md §7; [N1] zilverband/be-gas-converter; [N2] Alphasense AAN 803):

- Each cell's ISB gives two voltages: WE (working electrode) and AE (auxiliary electrode,
  which tracks the background). Alphasense's calibration sheet for each board gives the
  electronic offsets WEe/AEe (mV), the cell's sensitivity (nA/ppm) and the ISB gain (mV/nA).
- Algorithm 1: WEc = (WEu - WEe) - nT (AEu - AEe), nT interpolated by temperature from the
  cell's table at -30..50 °C in 10 °C steps. [N1]'s converter uses algorithm 1 with a table for
  both cells used here: NO2-B43F 1.3 1.3 1.3 1.3 1.0 0.6 0.4 0.2 -1.5 and NO-B4 2.9 2.9 2.2 1.8
  1.7 1.6 1.5 1.4 1.3. (SENSORS.md names algorithm 2 for NO-B4, but no kT table is at hand;
  ⚠ algorithm 1 is used for both.) Outside -30..50 °C the end values apply.
- ppb = WEc / S with S [mV/ppb] = sensitivity [nA/ppm] x gain [mV/nA] / 1000. Negative ppb is
  clamped to 0 [N1]; here only within ``negative_tolerance_ppb`` (⚠ 20 ppb, chosen here): a
  result further below zero is a baseline fault (drift, O3 interference on NO2 [N3]), reported
  OUT_OF_RANGE rather than passed off as clean air.
- Temperature comes from the caller (``temperature_c``); when it is unknown the reading is
  compensated at 20 °C and says NOT_CALIBRATED.

Zero calibration (the "NO2 zero"): in zero air (or air known to be clean), ``calibrate_zero``
measures the residual WEc and subtracts it from then on, as the per-cell total zero offset.

ADC: WE and AE single-ended on one ADS1115 (default 0x49, ADDR to VDD, so that the turbidity
ADC keeps 0x48): NO2 on AIN0/AIN1, NO on AIN2/AIN3, ±2.048 V full scale (ISB outputs of a few
hundred mV, SENSORS.md §7 ⚠), 8 SPS, the lowest-noise rate. A railed input (dry or saturated
cell, open wire) shows as a saturated ADC code: OUT_OF_RANGE.

Power: ``power`` is the ISBs' supply switch (``sensors.power_switch``); without one the boards
are on the permanent rail, powered since the driver was built, or since ``powered_at`` (the
clock's monotonic time) when the caller knows better. With the supply off ``read()`` reports
ASLEEP for every cell without touching the bus. Warm-up: SENSORS.md gives no stabilisation
time for B4 cells. Electrochemical cells settle over hours after their bias is restored;
⚠ ``warmup_s`` = 1 hour is an assumption to replace with the Alphasense figure. During it the
cells are read and their values reported WARMING_UP.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from nemopi.sensor_status import SensorStatus
from sensors.ads1115 import Ads1115, DataRate, Mux, Pga
from sensors.clock import Clock, SystemClock
from sensors.errors import OutOfRange, SensorError
from sensors.fault_log import FaultLog
from sensors.power_switch import PowerState, power_for, readiness
from sensors.reading import Reading, failed
from sensors.ti_registers import RegisterBus

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = 0x49
PGA = Pga.FSR_2_048V
RATE = DataRate.SPS_8
REFERENCE_TEMPERATURE_C = 20.0
TABLE_TEMPERATURES_C = (-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0)


class CellType(Enum):
    """A B4 cell type: the quantity it reports and its algorithm-1 nT table [N1]."""

    NO2_B43F = ("no2", (1.3, 1.3, 1.3, 1.3, 1.0, 0.6, 0.4, 0.2, -1.5))
    NO_B4 = ("no", (2.9, 2.9, 2.2, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3))

    def __init__(self, quantity: str, n_t: tuple[float, ...]) -> None:
        self.quantity = quantity
        self.n_t = n_t

    def n_t_at(self, temperature_c: float) -> float:
        """nT linearly interpolated at ``temperature_c``, held at the table's ends."""
        t = min(max(temperature_c, TABLE_TEMPERATURES_C[0]), TABLE_TEMPERATURES_C[-1])
        i = min(bisect.bisect_right(TABLE_TEMPERATURES_C, t), len(TABLE_TEMPERATURES_C) - 1)
        t0, t1 = TABLE_TEMPERATURES_C[i - 1], TABLE_TEMPERATURES_C[i]
        n0, n1 = self.n_t[i - 1], self.n_t[i]
        return n0 + (n1 - n0) * (t - t0) / (t1 - t0)


@dataclass(frozen=True, slots=True)
class CellCalibration:
    """One cell on its ISB: the calibration sheet's numbers plus the field zero.

    ``zeroed_utc`` identifies the zero calibration (its version on the wire); None = never
    zeroed in the field, ``zero_offset_mv`` then 0.
    """

    we_electronic_zero_mv: float  # WEe
    ae_electronic_zero_mv: float  # AEe
    sensitivity_na_per_ppm: float
    gain_mv_per_na: float
    zero_offset_mv: float = 0.0
    zeroed_utc: float | None = None

    def __post_init__(self) -> None:
        if self.sensitivity_mv_per_ppb == 0:
            raise ValueError("sensitivity and gain must both be non-zero")

    @property
    def sensitivity_mv_per_ppb(self) -> float:
        return self.sensitivity_na_per_ppm * self.gain_mv_per_na / 1000


@dataclass(frozen=True, slots=True)
class GasCell:
    """Which cell type sits on which pair of ADC inputs, with its calibration."""

    kind: CellType
    we_channel: int
    ae_channel: int
    calibration: CellCalibration


def corrected_we_mv(
    cell_type: CellType, cal: CellCalibration, we_mv: float, ae_mv: float, temperature_c: float
) -> float:
    """Algorithm 1: the working-electrode signal with offsets and background removed."""
    background = cell_type.n_t_at(temperature_c) * (ae_mv - cal.ae_electronic_zero_mv)
    return (we_mv - cal.we_electronic_zero_mv) - background


class GasCells:
    """B4 cells on one ADS1115; a ``Sensor`` and a context manager."""

    name = "gas_cells"
    warmup_s = 3600.0

    def __init__(
        self,
        bus: RegisterBus,
        cells: Sequence[GasCell],
        temperature_c: Callable[[], float | None],
        *,
        address: int = DEFAULT_ADDRESS,
        clock: Clock | None = None,
        powered_at: float | None = None,
        negative_tolerance_ppb: float = 20.0,
        power: PowerState | None = None,
    ) -> None:
        self._cells = {cell.kind.quantity: cell for cell in cells}
        if len(self._cells) != len(cells) or not cells:
            raise ValueError("give each cell type once, and at least one")
        self.quantities = tuple(self._cells)
        clock = clock or SystemClock()
        self._adc = Ads1115(bus, address, clock)
        self._temperature_c = temperature_c
        self._negative_tolerance_ppb = negative_tolerance_ppb
        self._power = power_for(clock, self.warmup_s, power, since=powered_at)
        self._faults = {q: FaultLog(log, f"{self.name} {q}") for q in self.quantities}
        self._closed = False

    @property
    def calibrations(self) -> dict[str, CellCalibration]:
        """Each quantity's calibration in use, for the buoy to store and report."""
        return {quantity: cell.calibration for quantity, cell in self._cells.items()}

    def read(self) -> list[Reading]:
        if readiness(self._power) is SensorStatus.ASLEEP:
            for faults in self._faults.values():
                faults.update(SensorStatus.ASLEEP)
            return failed(self.quantities, SensorStatus.ASLEEP)
        temperature = self._temperature_c()
        return [self._read_cell(cell, temperature) for cell in self._cells.values()]

    def _read_cell(self, cell: GasCell, temperature: float | None) -> Reading:
        quantity = cell.kind.quantity
        try:
            ppb = self._ppb(cell, REFERENCE_TEMPERATURE_C if temperature is None else temperature)
        except SensorError as exc:
            self._faults[quantity].update(exc.status, str(exc))
            return Reading(quantity, None, exc.status)
        if readiness(self._power) is SensorStatus.WARMING_UP:
            status = SensorStatus.WARMING_UP
        elif temperature is None:
            status = SensorStatus.NOT_CALIBRATED
        else:
            status = SensorStatus.OK
        self._faults[quantity].update(status)
        return Reading(quantity, ppb, status)

    def _ppb(self, cell: GasCell, temperature: float) -> float:
        cal = cell.calibration
        wec = self._corrected_we_mv(cell, temperature) - cal.zero_offset_mv
        ppb = wec / cal.sensitivity_mv_per_ppb
        if ppb < -self._negative_tolerance_ppb:
            raise OutOfRange(f"{ppb:.1f} ppb is below zero beyond the cell's noise")
        return max(0.0, ppb)

    def _corrected_we_mv(self, cell: GasCell, temperature: float) -> float:
        if self._closed:
            raise ValueError(f"{self.name} is closed")
        we_mv = self._adc.read(Mux.single_ended(cell.we_channel), PGA, RATE) * 1000
        ae_mv = self._adc.read(Mux.single_ended(cell.ae_channel), PGA, RATE) * 1000
        return corrected_we_mv(cell.kind, cell.calibration, we_mv, ae_mv, temperature)

    def calibrate_zero(self, quantity: str, samples: int = 4) -> CellCalibration:
        """Zero ``quantity``'s cell in zero air now; adopt the result and return it.

        Refused while the cells warm up (a zero taken then bakes the settling drift in) and
        without a temperature; a failed sample raises its ``SensorError``.
        """
        if samples < 1:
            raise ValueError("samples must be at least 1")
        not_ready = readiness(self._power)
        if not_ready is SensorStatus.ASLEEP:
            raise RuntimeError("the cells are switched off; power them and let them warm up")
        if not_ready is SensorStatus.WARMING_UP:
            raise RuntimeError("the cells are still warming up; zero them afterwards")
        temperature = self._temperature_c()
        if temperature is None:
            raise RuntimeError("a zero calibration needs the temperature")
        cell = self._cells[quantity]
        zero_mv = sum(self._corrected_we_mv(cell, temperature) for _ in range(samples)) / samples
        calibration = replace(
            cell.calibration, zero_offset_mv=zero_mv, zeroed_utc=self._adc.clock.utc()
        )
        self._cells[quantity] = replace(cell, calibration=calibration)
        log.info("%s %s: zeroed at %.3f mV", self.name, quantity, zero_mv)
        return calibration

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> GasCells:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
