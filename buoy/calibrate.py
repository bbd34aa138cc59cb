"""Calibration through the real drivers: given back at start, performed on request, recorded.

Why: ``buoy.calibration`` keeps the history; this module is where it meets the parts. The
builders (``buoy.hardware``, ``sensors.simulation.assemble``) only ever see plain driver
objects (``TurbidityCalibration``, ``CellCalibration``), so ``sensors`` stays free of ``buoy``.

What each part supports, and where its calibration lives:

- ``ph`` (EZO-pH): ``ph.mid``, ``ph.low``, ``ph.high`` in buffers (default pH 7, 4, 10),
  ``ph.clear``. The circuit keeps its points in its EEPROM, so nothing is given back at
  start; instead ``record_changes`` reads the circuit's points and slope at start and records
  them (``ph.readback``) when they differ from the last record, so a circuit swapped or
  calibrated by hand shows up in the data.
- ``turbidity`` (SEN0189): ``turbidity.clear_water``. Given back at start.
- ``no2``, ``no`` (Alphasense B4 cells): ``no2.zero``, ``no.zero`` in zero air. The zero offset
  is given back at start, over the calibration sheet of the configuration.

``record_changes`` also records a calibration that a builder performed itself (the simulated
buoy's installation) and the store did not have yet.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from buoy.calibration import CalibrationRecord, CalibrationState, CalibrationStore, Scalar
from sensors.clock import Clock
from sensors.errors import SensorError
from sensors.ezo_ph import Calibration, EzoPh
from sensors.gas_cells import CellCalibration, GasCell, GasCells
from sensors.reading import Sensor
from sensors.turbidity import TurbidityCalibration, TurbidityProbe

log = logging.getLogger(__name__)

PH_BUFFERS = {"mid": 7.0, "low": 4.0, "high": 10.0}  # the usual buffers, pH at 25 °C
PROCEDURES = (
    "ph.mid",
    "ph.low",
    "ph.high",
    "ph.clear",
    "turbidity.clear_water",
    "no2.zero",
    "no.zero",
)
# Two readbacks of the EZO-pH this close are the same calibration: the circuit prints slopes
# to 0.1 % and the offset to 0.01 mV, and re-reading its buffers moves them by electrode noise;
# 0.5 % of slope and 0.5 mV of offset are each under 0.01 pH near the buffers.
PH_TOLERANCES = {"points": 0.0, "acid_percent": 0.5, "base_percent": 0.5, "zero_offset_mv": 0.5}

_SensorT = TypeVar("_SensorT")


class HasSensors(Protocol):
    """What ``calibrate`` needs of an instrument set (hardware or simulated)."""

    @property
    def sensors(self) -> Sequence[Sensor]: ...


@dataclass(frozen=True, slots=True)
class DriverCalibration:
    """The stored calibration the builders hand to the drivers they build: the turbidity
    probe's, and each zeroed gas cell's (by quantity), to use instead of its configured sheet."""

    turbidity: TurbidityCalibration | None = None
    gas_cells: Mapping[str, CellCalibration] = field(default_factory=dict)


# -- records <-> driver objects ---------------------------------------------------------------


def ph_values(calibration: Calibration) -> dict[str, Scalar]:
    slope = calibration.slope
    return {
        "points": calibration.points,
        "acid_percent": slope.acid_percent,
        "base_percent": slope.base_percent,
        "zero_offset_mv": slope.zero_offset_mv,
    }


def turbidity_values(calibration: TurbidityCalibration) -> dict[str, Scalar]:
    return {
        "clear_water_v": calibration.clear_water_v,
        "offset_v": calibration.offset_v,
        "calibrated_utc": calibration.calibrated_utc,
    }


def cell_values(calibration: CellCalibration) -> dict[str, Scalar]:
    return dataclasses.asdict(calibration)


def driver_calibration(state: CalibrationState, cells: Sequence[GasCell]) -> DriverCalibration:
    """What the store holds for the parts that forget their calibration at restart.

    A gas cell's zero is given back only over the sheet it was taken with: after a board
    swap (a new sheet in ``cells``, the configured ones) the cell must be zeroed again. A
    record that does not convert back (edited by hand, written by other firmware) is logged
    and left out: the part then reads NOT_CALIBRATED or unzeroed rather than wrongly.
    """
    zeroed: dict[str, CellCalibration] = {}
    for cell in cells:
        quantity = cell.kind.quantity
        stored = _converted(state, quantity, _cell_from)
        if stored is None or stored.zeroed_utc is None:
            continue
        if _sheet(stored) == _sheet(cell.calibration):
            zeroed[quantity] = stored
        else:
            log.warning("%s: the stored zero was taken with another sheet; zero it again", quantity)
    return DriverCalibration(_converted(state, "turbidity", _turbidity_from), zeroed)


def _sheet(calibration: CellCalibration) -> CellCalibration:
    """The calibration sheet's numbers alone, without the field zero."""
    return dataclasses.replace(calibration, zero_offset_mv=0.0, zeroed_utc=None)


def _turbidity_from(values: Mapping[str, Scalar]) -> TurbidityCalibration:
    return TurbidityCalibration(_number(values["clear_water_v"]), _number(values["calibrated_utc"]))


def _cell_from(values: Mapping[str, Scalar]) -> CellCalibration:
    names = [f.name for f in dataclasses.fields(CellCalibration)]
    numbers = {name: values[name] for name in names}
    zeroed = numbers.pop("zeroed_utc")
    return CellCalibration(
        **{name: _number(value) for name, value in numbers.items()},
        zeroed_utc=None if zeroed is None else _number(zeroed),
    )


def _number(value: Scalar) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _converted(
    state: CalibrationState, part: str, convert: Callable[[Mapping[str, Scalar]], _SensorT]
) -> _SensorT | None:
    record = state.parts.get(part)
    if record is None:
        return None
    try:
        return convert(record.values)
    except (KeyError, TypeError, ValueError) as exc:
        log.error("calibration %d of %s is unusable and not applied: %r", record.version, part, exc)
        return None


# -- at start ---------------------------------------------------------------------------------


def record_changes(sensors: Sequence[Sensor], store: CalibrationStore, clock: Clock) -> None:
    """Record each part's calibration in use when it differs from its latest record.

    For the EZO-pH it is what the circuit reports now; a circuit that does not answer is
    logged and skipped (its readings will say why).
    """
    state = store.current()
    utc_ms = round(clock.utc() * 1000)
    ph = _find(sensors, EzoPh)
    if ph is not None:
        try:
            now = ph_values(ph.calibration())
        except SensorError as exc:
            log.warning("%s: calibration not read at start: %s", ph.name, exc)
        else:
            if not _same_ph(now, state.parts.get("ph")):
                store.record("ph", "ph.readback", now, utc_ms)
    in_use: dict[str, dict[str, Scalar]] = {}
    probe = _find(sensors, TurbidityProbe)
    if probe is not None and probe.calibration is not None:
        in_use["turbidity.clear_water"] = turbidity_values(probe.calibration)
    cells = _find(sensors, GasCells)
    if cells is not None:
        for quantity, cell in cells.calibrations.items():
            if cell.zeroed_utc is not None:
                in_use[f"{quantity}.zero"] = cell_values(cell)
    for procedure, values in in_use.items():
        part = _part(procedure)
        latest = state.parts.get(part)
        if latest is None or dict(latest.values) != values:
            store.record(part, procedure, values, utc_ms)


def _same_ph(now: Mapping[str, Scalar], latest: CalibrationRecord | None) -> bool:
    """Whether the circuit still holds the calibration of ``latest``, within its precision."""
    if latest is None:
        return False
    try:
        before = {key: _number(latest.values[key]) for key in PH_TOLERANCES}
    except (KeyError, TypeError):
        return False
    return all(
        abs(before[key] - _number(now[key])) <= tolerance
        for key, tolerance in PH_TOLERANCES.items()
    )


# -- on request -------------------------------------------------------------------------------


def calibrate(
    instruments: HasSensors,
    store: CalibrationStore,
    procedure: str,
    value: float | None = None,
    *,
    clock: Clock,
) -> CalibrationRecord:
    """Run one calibration step through its driver and record what the driver reports.

    ``value`` is the buffer's pH for ``ph.mid|low|high`` (default 7, 4, 10) and must be
    None for the other procedures. Raises ``ValueError`` for an unknown procedure, a part
    that is not fitted or a misplaced value, ``SensorError`` when the part fails or refuses
    the step, ``RuntimeError`` when the gas cells cannot be zeroed yet; nothing is recorded
    then.
    """
    part, step = check_procedure(procedure, value)
    sensors = instruments.sensors
    if part == "ph":
        values = _calibrate_ph(_fitted(sensors, EzoPh, procedure), step, value)
    elif part == "turbidity":
        probe = _fitted(sensors, TurbidityProbe, procedure)
        values = turbidity_values(probe.calibrate_clear_water())
    else:
        cells = _fitted(sensors, GasCells, procedure)
        if part not in cells.quantities:
            raise ValueError(f"{procedure}: no {part} cell is fitted")
        values = cell_values(cells.calibrate_zero(part))
    return store.record(part, procedure, values, round(clock.utc() * 1000))


def check_procedure(procedure: str, value: float | None = None) -> tuple[str, str]:
    """The part and step of ``procedure``; ValueError when it is unknown or takes no value."""
    if procedure not in PROCEDURES:
        raise ValueError(f"unknown procedure {procedure!r} (known: {', '.join(PROCEDURES)})")
    part, step = procedure.split(".")
    if value is not None and step not in PH_BUFFERS:
        raise ValueError(f"{procedure} takes no value")
    return part, step


def _calibrate_ph(ph: EzoPh, step: str, buffer_ph: float | None) -> dict[str, Scalar]:
    """One step on the circuit, then the points and slope it reports after it."""
    if step == "clear":
        ph.clear_calibration()
        return ph_values(ph.calibration())
    buffer_ph = PH_BUFFERS[step] if buffer_ph is None else buffer_ph
    points = {"mid": ph.calibrate_mid, "low": ph.calibrate_low, "high": ph.calibrate_high}
    points[step](buffer_ph)
    return ph_values(ph.calibration()) | {"buffer_ph": buffer_ph}


def _part(procedure: str) -> str:
    return procedure.split(".")[0]


def _find(sensors: Sequence[Sensor], kind: type[_SensorT]) -> _SensorT | None:
    return next((s for s in sensors if isinstance(s, kind)), None)


def _fitted(sensors: Sequence[Sensor], kind: type[_SensorT], procedure: str) -> _SensorT:
    sensor = _find(sensors, kind)
    if sensor is None:
        raise ValueError(f"{procedure}: no {kind.__name__} is fitted")
    return sensor
