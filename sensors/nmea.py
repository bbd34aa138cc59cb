"""NMEA 0183 GGA and RMC, from one line of bytes to a checked, typed fix. Pure: no I/O.

A sentence is ``$`` + talker + type + ``,fields`` + ``*HH`` + CR LF, where HH is the XOR of
every character between ``$`` and ``*`` in two hex digits (pynmea2 ``nmea.py`` [G1];
``SENSORS.md`` section 4.2). pynmea2 does the parsing; this module adds what a buoy needs on top:

- a checksum is required (``parse(..., check=True)``): pynmea2 would otherwise accept a
  sentence without one, and a serial line that drops ``*HH`` drops its protection too;
- pynmea2's typed fields fall back to the raw text when conversion fails (its
  ``__getattr__`` catches the error); here such a field makes the line GARBAGE instead;
- a position exists only when all four of lat, N/S, lon, E/W are present (pynmea2 would
  give 0.0 for an empty one).

GGA fix quality 0 is no fix; 1-5 are measured fixes (GPS, DGPS, PPS, RTK, float RTK);
6-8 are estimated, manual input and simulator, which a buoy must not report as its
position, so ``Gga.has_fix`` follows pynmea2's ``is_valid`` (1-5) [G1], [G3]. RMC status
``A`` is valid, ``V`` void; the date exists only in RMC [G4].
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from dataclasses import dataclass
from typing import TypeVar

import pynmea2

from sensors.errors import ChecksumError, GarbageResponse

MEASURED_FIX_QUALITIES = range(1, 6)
T = TypeVar("T")


def checksum(body: str) -> int:
    """The NMEA checksum of ``body``, the text between ``$`` and ``*``."""
    return functools.reduce(operator.xor, body.encode("ascii"), 0)


def sentence(body: str) -> bytes:
    """A complete sentence for ``body``: ``$body*HH`` and CR LF."""
    return f"${body}*{checksum(body):02X}\r\n".encode("ascii")


@dataclass(frozen=True, slots=True)
class Position:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Rmc:
    time: dt.time | None  # UTC, timezone-aware
    date: dt.date | None
    valid: bool  # status A
    position: Position | None

    @property
    def utc(self) -> dt.datetime | None:
        """Date and time together, when the sentence carries both."""
        if self.time is None or self.date is None:
            return None
        return dt.datetime.combine(self.date, self.time)


@dataclass(frozen=True, slots=True)
class Gga:
    time: dt.time | None
    quality: int
    satellites: int | None
    hdop: float | None
    position: Position | None

    @property
    def has_fix(self) -> bool:
        return self.quality in MEASURED_FIX_QUALITIES and self.position is not None


def parse_line(line: bytes) -> Rmc | Gga | None:
    """Decode one line; None for a well-formed sentence of another type (GSA, VTG, TXT...).

    Raises ``ChecksumError`` for a missing or wrong checksum and ``GarbageResponse`` for
    anything else that is not a sentence.
    """
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        raise GarbageResponse("not ASCII", line) from None
    if not text.startswith("$"):
        raise GarbageResponse("no leading $", line)
    try:
        parsed = pynmea2.parse(text, check=True)
    except pynmea2.ChecksumError as exc:
        raise ChecksumError(str(exc), line) from None
    except pynmea2.SentenceTypeError:
        return None
    except pynmea2.ParseError as exc:
        raise GarbageResponse(str(exc), line) from None
    try:
        if isinstance(parsed, pynmea2.RMC):
            return _rmc(parsed)
        if isinstance(parsed, pynmea2.GGA):
            return _gga(parsed)
    except (TypeError, ValueError) as exc:
        raise GarbageResponse(f"bad field: {exc}", line) from None
    return None


def _rmc(rmc: pynmea2.RMC) -> Rmc:
    status = rmc.status
    if status not in ("A", "V"):
        raise ValueError(f"RMC status {status!r}")
    return Rmc(
        _typed(rmc.timestamp, dt.time),
        _typed(rmc.datestamp, dt.date),
        status == "A",
        _position(rmc),
    )


def _gga(gga: pynmea2.GGA) -> Gga:
    quality = _typed(gga.gps_qual, int)
    return Gga(
        _typed(gga.timestamp, dt.time),
        0 if quality is None else quality,
        int(gga.num_sats) if gga.num_sats else None,
        float(gga.horizontal_dil) if gga.horizontal_dil else None,
        _position(gga),
    )


def _typed(value: object, kind: type[T]) -> T | None:
    """``value`` when pynmea2 converted it to ``kind``; None when empty; else ValueError."""
    if value is None or isinstance(value, kind):
        return value
    raise ValueError(f"{value!r} is not a {kind.__name__}")


def _position(fix: pynmea2.RMC | pynmea2.GGA) -> Position | None:
    if not (fix.lat and fix.lat_dir and fix.lon and fix.lon_dir):
        return None
    if fix.lat_dir not in ("N", "S") or fix.lon_dir not in ("E", "W"):
        raise ValueError(f"hemisphere {fix.lat_dir!r}/{fix.lon_dir!r}")
    latitude, longitude = fix.latitude, fix.longitude
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError(f"position {latitude}, {longitude} off the globe")
    return Position(latitude, longitude)
