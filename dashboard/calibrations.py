"""Calibration records on the server: checked, kept insert-only, and read back per sample.

Why: a stored reading is never altered, so what explains it (which calibration was in force)
must be a separate, attributable record. Buoys report their calibration in the retained status
(``detail["calibration"]``, see ``docs/calibration.md``): the current version and, per part,
its latest record. Every sample names the version it was taken under.

What it promises:

- ``parse_summary`` accepts exactly the shape ``buoy.calibration.CalibrationState.summary()``
  produces and raises ``CalibrationSummaryError`` (carrying the reason) for anything else: a
  status may come from a buggy or hostile client, so types, sizes and ranges are all checked.
- ``store_calibrations`` inserts the records not stored yet and never updates one: the same
  record again changes nothing; a different record under a stored (buoy, version, part) is
  returned as a conflict for the caller to quarantine, and the stored one stays.
- ``calibration_history`` and ``calibration_for_sample`` read them back. The dashboard learns a
  record only from a status, so a record the buoy superseded before sending any status is not
  here; samples are taken under versions the buoy's statuses report, so theirs are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from dashboard.models import (
    MAX_PART_CHARS,
    MAX_PROCEDURE_CHARS,
    buoys,
    calibrations,
    samples,
)
from dashboard.storage import insert_for, utc_from_ms
from nemopi.wire import MAX_SEQ, MAX_TEXT, MAX_UTC_MS, MIN_UTC_MS

SUMMARY_KEY = "calibration"
MAX_PARTS = 32
MAX_VALUES = 32
MAX_SAFE_INT = 2**53  # beyond it, JSON readers (JavaScript, pandas) would round
RECORD_KEYS = ("procedure", "version", "utc_ms")

Scalar = float | int | str | bool | None


class CalibrationSummaryError(ValueError):
    """A status's calibration summary that is not the shape buoys send; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Calibration:
    """One calibration record as the buoy reported it: ``procedure`` done on ``part`` at
    ``calibrated_at`` (the buoy's UTC clock), starting calibration ``version``."""

    part: str
    version: int
    procedure: str
    calibrated_at: datetime
    values: Mapping[str, Scalar]

    def values_json(self) -> str:
        """The values as canonical JSON: one text per content, so equal records compare equal."""
        return json.dumps(self.values, sort_keys=True, separators=(",", ":"), allow_nan=False)

    def same_as(self, other: Calibration | None) -> bool:
        """The same record, value types included (Python holds ``1 == 1.0 == True``; a record
        that said ``1.0`` is not one that said ``1``)."""
        return (
            other is not None
            and (self.part, self.version, self.procedure, self.calibrated_at)
            == (other.part, other.version, other.procedure, other.calibrated_at)
            and self.values_json() == other.values_json()
        )


@dataclass(frozen=True, slots=True)
class StoredCalibration:
    """A stored record and where it came from: when the dashboard first received it and the
    ``as_of`` time of the status that carried it."""

    calibration: Calibration
    received_at: datetime
    status_as_of: datetime


def parse_summary(detail: Mapping[str, Any]) -> list[Calibration]:
    """The records in a status's ``detail`` (none when it has no calibration summary)."""
    if SUMMARY_KEY not in detail:
        return []
    summary = detail[SUMMARY_KEY]
    if not isinstance(summary, Mapping):
        raise CalibrationSummaryError(f"the summary is a {type(summary).__name__}, not a map")
    if len(summary) > MAX_PARTS + 1:
        raise CalibrationSummaryError(f"more than {MAX_PARTS} parts")
    if "version" not in summary:
        raise CalibrationSummaryError("the summary has no version")
    current = _integer(summary["version"], "version", 0, MAX_SEQ)
    records = [
        _record(part, entry, current) for part, entry in summary.items() if part != "version"
    ]
    versions = [record.version for record in records]
    if len(set(versions)) != len(versions):
        raise CalibrationSummaryError("two parts claim the same version")
    return records


def _record(part: object, entry: object, current: int) -> Calibration:
    if not isinstance(part, str) or not 0 < len(part) <= MAX_PART_CHARS:
        raise CalibrationSummaryError(f"part name {str(part)[:MAX_PART_CHARS]!r} is not allowed")
    if not isinstance(entry, Mapping):
        raise CalibrationSummaryError(f"{part}: a {type(entry).__name__}, not a map")
    if len(entry) > MAX_VALUES + len(RECORD_KEYS):
        raise CalibrationSummaryError(f"{part}: more than {MAX_VALUES} values")
    missing = [key for key in RECORD_KEYS if key not in entry]
    if missing:
        raise CalibrationSummaryError(f"{part}: no {', '.join(missing)}")
    procedure = entry["procedure"]
    if not isinstance(procedure, str) or not 0 < len(procedure) <= MAX_PROCEDURE_CHARS:
        raise CalibrationSummaryError(f"{part}: the procedure is not a short text")
    if procedure.split(".")[0] != part:
        raise CalibrationSummaryError(f"{part}: procedure {procedure!r} is another part's")
    values = {key: value for key, value in entry.items() if key not in RECORD_KEYS}
    if not all(isinstance(key, str) and 0 < len(key) <= MAX_TEXT for key in values):
        raise CalibrationSummaryError(f"{part}: a value name is not a short text")
    return Calibration(
        part=part,
        version=_integer(entry["version"], f"{part}.version", 1, current),
        procedure=procedure,
        calibrated_at=utc_from_ms(
            _integer(entry["utc_ms"], f"{part}.utc_ms", MIN_UTC_MS, MAX_UTC_MS)
        ),
        values={key: _scalar(value, f"{part}.{key}") for key, value in sorted(values.items())},
    )


def _integer(value: object, what: str, lowest: int, highest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise CalibrationSummaryError(f"{what} is not a whole number in {lowest}..{highest}")
    return value


def _scalar(value: object, what: str) -> Scalar:
    """A value a record can keep: what ``buoy.calibration.checked_values`` lets a buoy store,
    with whole numbers limited to those every JSON reader keeps exactly."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise CalibrationSummaryError(f"{what} is beyond ±2**53")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CalibrationSummaryError(f"{what} is not a finite number")
        return value
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return value
    raise CalibrationSummaryError(f"{what} is not a number, a short text, a boolean or null")


def store_calibrations(
    conn: Connection,
    buoy_key: int,
    records: list[Calibration],
    status_as_of: datetime,
    received_at: datetime,
) -> list[Calibration]:
    """Insert the ``records`` not stored yet, inside ``conn``'s transaction; return those that
    differ from the record already stored under their version (a version names one record on
    the buoy, so another part under it differs too), which stays unchanged."""
    if not records:
        return []
    rows = [
        {
            "buoy_key": buoy_key,
            "version": record.version,
            "part": record.part,
            "procedure": record.procedure,
            "values_json": record.values_json(),
            "calibrated_at": record.calibrated_at,
            "received_at": received_at,
            "status_as_of": status_as_of,
        }
        for record in records
    ]
    inserted = set(
        conn.execute(
            insert_for(conn)(calibrations)
            .on_conflict_do_nothing()
            .returning(calibrations.c.version),
            rows,
        ).scalars()
    )
    older = [record for record in records if record.version not in inserted]
    if not older:
        return []
    stored = {
        found.calibration.version: found.calibration
        for found in _stored(
            conn,
            calibrations.c.buoy_key == buoy_key,
            calibrations.c.version.in_([record.version for record in older]),
        )
    }
    return [record for record in older if not record.same_as(stored.get(record.version))]


def calibration_history(conn: Connection, buoy: str) -> list[StoredCalibration]:
    """Every stored record of ``buoy`` (by wire id), oldest version first."""
    return _stored(conn, calibrations.c.buoy_key == _buoy_key(buoy))


def calibration_for_sample(conn: Connection, buoy: str, seq: int) -> list[StoredCalibration] | None:
    """The records in force for the sample (``buoy``, ``seq``): per part, the newest stored
    record whose version is at most the sample's ``calibration_version``; ordered by version.
    None when no such sample is stored; empty when it was taken before any known calibration."""
    version = conn.execute(
        select(samples.c.calibration_version).where(
            samples.c.buoy_key == _buoy_key(buoy), samples.c.seq == seq
        )
    ).scalar_one_or_none()
    if version is None:
        return None
    newest = (
        select(func.max(calibrations.c.version))
        .where(
            calibrations.c.buoy_key == _buoy_key(buoy),
            calibrations.c.version <= version,
        )
        .group_by(calibrations.c.part)
    )
    return _stored(
        conn, calibrations.c.buoy_key == _buoy_key(buoy), calibrations.c.version.in_(newest)
    )


def _buoy_key(buoy: str) -> Any:
    return select(buoys.c.key).where(buoys.c.id == buoy).scalar_subquery()


def _stored(conn: Connection, *where: Any) -> list[StoredCalibration]:
    rows = conn.execute(
        select(calibrations).where(*where).order_by(calibrations.c.version, calibrations.c.part)
    )
    return [_from_row(row) for row in rows]


def _from_row(row: Row[Any]) -> StoredCalibration:
    return StoredCalibration(
        Calibration(
            part=row.part,
            version=row.version,
            procedure=row.procedure,
            calibrated_at=row.calibrated_at,
            values=json.loads(row.values_json),
        ),
        received_at=row.received_at,
        status_as_of=row.status_as_of,
    )
