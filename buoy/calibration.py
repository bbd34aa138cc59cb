"""The buoy's calibration history: every calibration event, kept on the SD card for good.

Why: a reading is only as good as the calibration behind it, and the parts that the buoy
calibrates itself (the turbidity probe's clear-water voltage, the gas cells' zeros) forget it
when the process restarts; the EZO-pH keeps its points in its own EEPROM, but a swapped or
hand-calibrated circuit must still show up in the data. So each event is recorded here, the
drivers get the stored calibration back at start (``buoy.calibrate``), and every sample
carries the **calibration version** that was current when it was taken.

What it promises:

- **Immutable records.** A ``CalibrationRecord`` is appended, never changed or deleted (the
  database refuses UPDATE and DELETE on the table with triggers). Its ``version`` is the
  calibration version it starts: versions increase monotonically and are never reused
  (``AUTOINCREMENT`` keeps the highest number ever issued, even if a row were removed by hand).
- **Durable appends.** WAL mode with ``synchronous=FULL``, one transaction per record:
  ``record()`` returns only after the record is fsynced, so a power cut or ``kill -9`` after
  it returns loses nothing, and one during it loses the whole record, never half of it.
- **Values that travel.** A record's values are a flat map of scalars (numbers, texts up to
  ``MAX_TEXT``, booleans, None): they fit the status report's detail map (``summary()``) and
  round-trip through JSON unchanged.

Why its own file and not the outbox's database: the outbox is pruned as the ingest confirms,
checks its owner's buoy id and has its own schema version; the calibration history is tiny,
is never pruned, must outlive an outbox that an operator clears, and is written by
``nemopi buoy calibrate`` while the daemon is stopped. A separate ``calibration.sqlite3`` in
the data folder keeps both schemas simple and lets a technician copy the history on its own.
One thread at a time uses a ``CalibrationStore``.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from buoy.closeable import Closeable
from buoy.durable_sqlite import prepare_durable
from nemopi.wire import MAX_TEXT

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.sqlite3"
SCHEMA_VERSION = 1
# The names a record's summary uses for itself; values may not take them.
RESERVED_KEYS = frozenset({"procedure", "version", "utc_ms"})

Scalar = float | int | str | bool | None

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS records (version INTEGER PRIMARY KEY AUTOINCREMENT, "
    "part TEXT NOT NULL, procedure TEXT NOT NULL, utc_ms INTEGER NOT NULL, "
    "vals TEXT NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records "
    "BEGIN SELECT RAISE(ABORT, 'calibration records are immutable'); END",
    "CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records "
    "BEGIN SELECT RAISE(ABORT, 'calibration records are immutable'); END",
)


class CalibrationStoreError(RuntimeError):
    """A calibration database that cannot be used (closed, or written by newer firmware)."""


@dataclass(frozen=True, slots=True)
class CalibrationRecord:
    """One calibration event: ``procedure`` (``ph.mid``) done on ``part`` (``ph``) at
    ``utc_ms``, with the ``values`` the driver reported; it starts calibration ``version``."""

    version: int
    part: str
    procedure: str
    utc_ms: int
    values: Mapping[str, Scalar]

    def summary(self) -> dict[str, Scalar]:
        """The record as one flat map: procedure, version, time, then its values."""
        return {
            "procedure": self.procedure,
            "version": self.version,
            "utc_ms": self.utc_ms,
            **self.values,
        }


@dataclass(frozen=True, slots=True)
class CalibrationState:
    """The current calibration version and, per part, its latest record."""

    version: int = 0
    parts: Mapping[str, CalibrationRecord] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What the status report carries: ``{"version": n, "<part>": {...}, ...}``."""
        return {"version": self.version} | {
            part: record.summary() for part, record in sorted(self.parts.items())
        }


def checked_values(values: Mapping[str, object]) -> dict[str, Scalar]:
    """``values`` if it is a flat map of scalars a record can keep; ValueError otherwise."""
    checked: dict[str, Scalar] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_TEXT or key in RESERVED_KEYS:
            raise ValueError(f"calibration value name {key!r} is not allowed")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"calibration value {key} = {value} is not a finite number")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ValueError(f"calibration value {key} is longer than {MAX_TEXT} characters")
        if not (value is None or isinstance(value, bool | int | float | str)):
            raise ValueError(f"calibration value {key} is a {type(value).__name__}")
        checked[key] = value
    return checked


class CalibrationStore(Closeable):
    """The calibration history at ``path``; a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False
        )
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    @classmethod
    def in_dir(cls, data_dir: Path) -> CalibrationStore:
        """The store of the buoy whose data folder is ``data_dir`` (created if missing)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(data_dir / CALIBRATION_FILE)

    def _open(self) -> None:
        db = self._conn
        prepare_durable(db, self.path, SCHEMA_VERSION, CalibrationStoreError)
        with self._write():
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._version = self._highest_version()

    def record(
        self, part: str, procedure: str, values: Mapping[str, object], utc_ms: int
    ) -> CalibrationRecord:
        """Append one calibration event durably and return it with its new version.

        ValueError (before anything is written) for an empty part or procedure, or values
        that are not a flat map of scalars (``checked_values``).
        """
        if not part or not procedure or len(procedure) > MAX_TEXT:
            raise ValueError("a calibration record needs a part and a procedure")
        clean = checked_values(values)
        body = json.dumps(clean, allow_nan=False, sort_keys=True)
        with self._write():
            cursor = self._conn.execute(
                "INSERT INTO records (part, procedure, utc_ms, vals) VALUES (?, ?, ?, ?)",
                (part, procedure, utc_ms, body),
            )
        version = cursor.lastrowid
        if version is None:
            raise CalibrationStoreError(f"{self.path}: the record got no version")
        self._version = version
        record = CalibrationRecord(version, part, procedure, utc_ms, MappingProxyType(clean))
        log.info("calibration %d: %s %s", version, procedure, clean)
        return record

    def version(self) -> int:
        """The current calibration version: that of the latest record, 0 before any."""
        return self._version

    def current(self) -> CalibrationState:
        """The current version and the latest record of each part."""
        rows = self._conn.execute(
            "SELECT version, part, procedure, utc_ms, vals FROM records WHERE version IN "
            "(SELECT MAX(version) FROM records GROUP BY part)"
        )
        parts = {record.part: record for record in map(_record, rows)}
        return CalibrationState(self._version, MappingProxyType(parts))

    def history(self) -> list[CalibrationRecord]:
        """Every record, oldest first."""
        rows = self._conn.execute(
            "SELECT version, part, procedure, utc_ms, vals FROM records ORDER BY version"
        )
        return [_record(row) for row in rows]

    def close(self) -> None:
        """Close the database; safe to call twice."""
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise CalibrationStoreError(f"{self.path}: calibration store is closed")
        return self._db

    def _highest_version(self) -> int:
        """The highest version ever issued, also counting a record removed by hand."""
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'")
        issued = row.fetchone()
        return int(issued[0]) if issued else 0

    @contextmanager
    def _write(self) -> Iterator[None]:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _record(row: tuple[int, str, str, int, str]) -> CalibrationRecord:
    version, part, procedure, utc_ms, body = row
    return CalibrationRecord(version, part, procedure, utc_ms, MappingProxyType(json.loads(body)))
