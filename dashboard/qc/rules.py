"""The QC rules: a time-ordered series of one buoy's quantity in, QARTOD flags out. Pure.

Each test is an ``ioos_qc.qartod`` function; this module decides what each value's neighbours
are, so that a value's flags depend only on the stored series around it, never on how the
readings were split into batches or how much history the caller happened to fetch:

- The series is ordered by (UTC time, seq). Values without a UTC time (unsynced clock) take
  part in the gross-range, sensor-status and location tests only; their time-based tests are
  NOT_EVALUATED until their time is known.
- Two values further apart than ``max_gap_s`` are not neighbours: a spike needs a neighbour on
  each side and a rate of change one before, within the gap, or it is NOT_EVALUATED. A value
  whose neighbour has no value is NOT_EVALUATED by both.
- Flat line: ``qartod.flat_line_test`` turns its time windows into one sample count from the
  median interval of whatever slice it is given, which would make a value's flag depend on the
  batch it came in. So each value's window is found here, by time: the values in
  [t - window, t], whose first value must lie within ``max_gap_s`` of the window's start (the
  window is covered) and which must hold at least three values. The ioos_qc test then runs on
  a unit-spaced time axis with the count as its threshold, once per distinct count.

A caller evaluates only ``targets`` but must pass every value within ``Thresholds.lookback_s``
and ``max_gap_s`` of them (``QcConfig.lookback_s``); more context changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ioos_qc import qartod

from dashboard.qc.config import Thresholds
from dashboard.qc.flags import Flag, status_flags

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Flags = npt.NDArray[np.uint8]

# The stored per-test columns, in storage order; "sensor" is the buoy's own status.
COLUMNS = ("sensor", "gross_range", "spike", "rate_of_change", "flat_line", "location")
TIME_TESTS = ("spike", "rate_of_change", "flat_line")
MIN_FLAT_LINE_VALUES = 3  # ioos_qc's own minimum: fewer values, no flat-line verdict


@dataclass(frozen=True)
class Series:
    """One buoy's readings of one quantity, in any order. ``time_s`` is seconds since the
    epoch (NaN: unsynced); ``value`` is NaN when the sensor sent none."""

    seq: Ints
    time_s: Floats
    value: Floats
    status: Ints


@dataclass(frozen=True)
class Mooring:
    latitude: float
    longitude: float
    radius_m: float


@dataclass(frozen=True)
class Outcome:
    """Flags of the target values, all arrays aligned with ``seq``. A column missing from
    ``flags`` is a test that does not apply to this quantity or is switched off."""

    seq: Ints
    flags: Mapping[str, Flags]
    aggregate: Flags


def evaluate(
    series: Series,
    targets: Bools,
    thresholds: Thresholds,
    max_gap_s: float,
    location: Flags | None = None,
) -> Outcome:
    """Flags for the values of ``series`` where ``targets`` is true. ``location`` (aligned
    with ``series``) is the position test's flag, given for latitude and longitude only."""
    order = np.lexsort((series.seq, series.time_s))  # NaN times sort last
    time_s, value, target = series.time_s[order], series.value[order], targets[order]
    synced = int(np.count_nonzero(np.isfinite(time_s)))
    flags: dict[str, Flags] = {"sensor": status_flags(series.status[order])}
    if "gross_range" in thresholds.tests:
        flags["gross_range"] = _filled(
            qartod.gross_range_test(
                value, thresholds.gross_range_fail, thresholds.gross_range_suspect
            )
        )
    timed = _time_tests(time_s[:synced], value[:synced], target[:synced], thresholds, max_gap_s)
    for name, synced_flags in timed.items():
        column = np.where(np.isnan(value), Flag.MISSING, Flag.NOT_EVALUATED).astype(np.uint8)
        column[:synced] = synced_flags
        flags[name] = column
    if location is not None:
        flags["location"] = location[order]
    picked = {name: column[target] for name, column in flags.items()}
    aggregate = _filled(qartod.qartod_compare(list(picked.values())))
    return Outcome(series.seq[order][target], picked, aggregate)


def location_flags(latitude: Floats, longitude: Floats, mooring: Mooring | None) -> Flags:
    """The location test of each position: SUSPECT beyond the mooring's radius (great-circle
    distance on WGS84), FAIL for impossible or half-missing coordinates, NOT_EVALUATED when
    the buoy has no registered mooring.

    ``qartod.location_test`` computes one WGS84 geodesic per point, which dominated the cost of
    QC. A spherical distance, vectorised, differs from it by well under ``SPHERE_ERROR``, so
    only positions that close to the radius need the exact test; the flags are the same.
    """
    flags = _filled(qartod.location_test(longitude, latitude))  # missing, impossible
    possible = flags == Flag.GOOD
    if mooring is None:
        flags[possible] = Flag.NOT_EVALUATED
        return flags
    lat, lon = latitude[possible], longitude[possible]
    rough = _sphere_distance_m(lat, lon, mooring.latitude, mooring.longitude)
    result = np.where(rough > mooring.radius_m, Flag.SUSPECT, Flag.GOOD).astype(flags.dtype)
    near = np.abs(rough - mooring.radius_m) <= SPHERE_ERROR * mooring.radius_m + 1.0
    if near.any():
        result[near] = _wgs84_flags(lat[near], lon[near], mooring)
    flags[possible] = result
    return flags


# The spherical distance is within 0.56 % of the WGS84 geodesic anywhere on Earth.
SPHERE_ERROR = 0.01
EARTH_RADIUS_M = 6_371_008.8


def _sphere_distance_m(lat: Floats, lon: Floats, lat0: float, lon0: float) -> Floats:
    """Haversine distance from (lat0, lon0) to each point, in metres."""
    phi, phi0 = np.radians(lat), np.radians(lat0)
    d_phi, d_lambda = phi - phi0, np.radians(lon - lon0)
    h = np.sin(d_phi / 2) ** 2 + np.cos(phi) * np.cos(phi0) * np.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _wgs84_flags(lat: Floats, lon: Floats, mooring: Mooring) -> Flags:
    """The exact test: ``qartod.location_test`` measures the distance between consecutive
    points, so each position is preceded by the mooring."""
    pairs_lat, pairs_lon = np.empty(2 * lat.size), np.empty(2 * lat.size)
    pairs_lat[0::2], pairs_lon[0::2] = mooring.latitude, mooring.longitude
    pairs_lat[1::2], pairs_lon[1::2] = lat, lon
    distance = qartod.location_test(
        pairs_lon, pairs_lat, range_max=mooring.radius_m, range_method="wgs84"
    )
    return _filled(distance)[1::2]


def _time_tests(
    time_s: Floats, value: Floats, target: Bools, thresholds: Thresholds, max_gap_s: float
) -> dict[str, Flags]:
    """The time-based tests over synced values ordered by time."""
    tests = [name for name in TIME_TESTS if name in thresholds.tests]
    if time_s.size == 0:
        return {name: np.empty(0, dtype=np.uint8) for name in tests}
    missing = np.isnan(value)
    alone_before = np.diff(time_s, prepend=-np.inf) > max_gap_s
    alone_after = np.diff(time_s, append=np.inf) > max_gap_s
    missing_before = np.concatenate(([True], missing[:-1]))
    missing_after = np.concatenate((missing[1:], [True]))
    out: dict[str, Flags] = {}
    if "spike" in tests:
        spike = _filled(qartod.spike_test(value, thresholds.spike_suspect, thresholds.spike_fail))
        lonely = alone_before | alone_after | missing_before | missing_after
        spike[lonely & ~missing] = Flag.NOT_EVALUATED
        out["spike"] = spike
    if "rate_of_change" in tests:
        # Two values at the same second give an infinite rate: ioos_qc divides by zero.
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = _filled(
                qartod.rate_of_change_test(
                    value,
                    _datetimes(time_s),
                    thresholds.rate_of_change_suspect,
                    thresholds.rate_of_change_fail,
                )
            )
        rate[(alone_before | missing_before) & ~missing] = Flag.NOT_EVALUATED
        out["rate_of_change"] = rate
    if "flat_line" in tests:
        out["flat_line"] = _flat_line(time_s, value, target, thresholds, max_gap_s)
    return out


def _flat_line(
    time_s: Floats, value: Floats, target: Bools, thresholds: Thresholds, max_gap_s: float
) -> Flags:
    missing = np.isnan(value)
    flags = np.where(missing, Flag.MISSING, Flag.GOOD).astype(np.uint8)
    index = np.arange(time_s.size)
    # How many consecutive steps ending at each value stay within the tolerance (a step to
    # or from a missing value does not break the run). A window can only be flat when all of
    # its steps are, so ioos_qc runs on those candidates alone.
    breaks = np.ones(time_s.size, dtype=np.bool_)
    breaks[1:] = np.abs(np.diff(value)) >= thresholds.flat_line_tolerance
    run = index - np.maximum.accumulate(np.where(breaks, index, 0))
    for window_s, flag in (
        (thresholds.flat_line_suspect_s, Flag.SUSPECT),
        (thresholds.flat_line_fail_s, Flag.FAIL),
    ):
        first = np.searchsorted(time_s, time_s - window_s, side="left")
        count = index - first
        covered = time_s[first] - (time_s - window_s) <= max_gap_s
        eligible = (
            target & ~missing & covered & (count >= MIN_FLAT_LINE_VALUES - 1) & (run >= count)
        )
        for steps in np.unique(count[eligible]):
            members = eligible & (count == steps)
            low, high = int(first[members].min()), int(index[members].max()) + 1
            window = qartod.flat_line_test(
                value[low:high],
                np.arange(high - low).astype("datetime64[s]"),
                suspect_threshold=int(steps),
                fail_threshold=int(steps),
                tolerance=thresholds.flat_line_tolerance,
            )
            flat = np.zeros(time_s.size, dtype=np.bool_)
            flat[low:high] = _filled(window) == Flag.FAIL
            flags[members & flat] = flag
    return flags


def _datetimes(time_s: Floats) -> npt.NDArray[np.datetime64]:
    return np.round(time_s * 1000).astype(np.int64).astype("datetime64[ms]")


def _filled(flags: np.ma.MaskedArray) -> Flags:  # type: ignore[type-arg]
    return np.asarray(np.ma.filled(flags, Flag.MISSING), dtype=np.uint8)
