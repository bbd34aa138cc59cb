"""What a researcher asked for: a query string checked into an ``ExportRequest``. Pure.

Every parameter is checked here, before the database is touched, and a bad one raises
``RequestError`` naming it, so that the endpoint answers a 400 that says what to fix (and the
same rules can be written down in OpenAPI). Unknown parameters are refused too: a misspelt
``strat=`` must not silently export everything.

Times are ISO 8601. A time zone in the value is honoured and converted to UTC; a time without
one is taken as UTC; a "+" that arrives as a space (sent unencoded) is read as the "+" it was.
The range is [start, end): ``start`` inclusive, ``end`` exclusive; an empty ``start`` or
``end`` (what an HTML form sends for a field left blank) leaves that side unbounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlencode

from dashboard.qc.flags import Flag
from nemopi.catalogue import Group, Quantity, measured
from nemopi.topics import is_valid_buoy_id
from nemopi.wire import MAX_UTC_MS, MIN_UTC_MS

ALL_BUOYS = "all"
MAX_VALUE_CHARS = 2048  # one parameter's text; far beyond any valid value
DEFAULT_FLAGS = frozenset({Flag.GOOD, Flag.NOT_EVALUATED, Flag.SUSPECT})
EARLIEST = datetime.fromtimestamp(MIN_UTC_MS / 1000, UTC)
LATEST = datetime.fromtimestamp(MAX_UTC_MS / 1000, UTC)
EXPORTABLE = {q.name: q for q in measured()}
# A "+" sent unencoded in a URL arrives as a space: "T10:00:00 10:00" means "T10:00:00+10:00".
_UNENCODED_PLUS = re.compile(r"(T[\d:.]+) (\d\d:?\d\d)$")
# Position has columns of its own (latitude, longitude); its readings are asked for by name.
DEFAULT_QUANTITIES = tuple(q for q in measured() if q.group is not Group.POSITION)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"  # JSON Lines: one object per row
    NETCDF = "netcdf"
    METADATA = "metadata"  # the JSON sidecar that describes a CSV or JSON export


class RequestError(ValueError):
    """A parameter that cannot be used: ``parameter`` names it, ``message`` says why."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """``buoys`` None means every buoy; ``start``/``end`` None mean unbounded on that side."""

    buoys: tuple[str, ...] | None
    start: datetime | None
    end: datetime | None
    quantities: tuple[Quantity, ...]
    flags: frozenset[Flag]
    format: ExportFormat

    def query(self, **changes: str) -> str:
        """This request as a query string, with ``changes`` applied (e.g. another format)."""
        params = {
            "buoy": ",".join(self.buoys) if self.buoys else ALL_BUOYS,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end),
            "quantity": ",".join(q.name for q in self.quantities),
            "flags": ",".join(str(int(f)) for f in sorted(self.flags)),
            "format": self.format.value,
        }
        params.update(changes)
        return urlencode({k: v for k, v in params.items() if v})


PARAMETERS = ("buoy", "start", "end", "quantity", "flags", "format")


def parse_request(args: Mapping[str, Sequence[str]], max_buoys: int) -> ExportRequest:
    """The request in ``args`` (parameter -> every value given for it, as a query string
    parses); a repeated parameter and a comma-separated list mean the same."""
    unknown = sorted(set(args) - set(PARAMETERS))
    if unknown:
        raise RequestError(unknown[0][:64], f"unknown parameter (known: {', '.join(PARAMETERS)})")
    for name, values in args.items():
        if sum(len(v) for v in values) > MAX_VALUE_CHARS:
            raise RequestError(name, f"longer than {MAX_VALUE_CHARS} characters")
    start = _time(args, "start")
    end = _time(args, "end")
    if start is not None and end is not None and not start < end:
        raise RequestError("end", "must be after start (the range is [start, end))")
    return ExportRequest(
        buoys=_buoys(_items(args, "buoy"), max_buoys),
        start=start,
        end=end,
        quantities=_quantities(_items(args, "quantity")),
        flags=_flags(_items(args, "flags")),
        format=_format(args),
    )


def _items(args: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """The comma-separated items of every value of ``name``; empty items are errors."""
    items = [item.strip() for value in args.get(name, ()) for item in value.split(",")]
    if any(not item for item in items):
        raise RequestError(name, "an empty item (a list is comma-separated names)")
    return items


def _single(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = args.get(name, ())
    if len(values) > 1:
        raise RequestError(name, "given more than once")
    return values[0] if values else None


def _time(args: Mapping[str, Sequence[str]], name: str) -> datetime | None:
    text = _single(args, name)
    if text is None or not text.strip():
        return None
    try:
        when = datetime.fromisoformat(_UNENCODED_PLUS.sub(r"\1+\2", text.strip()))
    except ValueError:
        raise RequestError(
            name, f"{text[:64]!r} is not an ISO 8601 time (e.g. 2026-05-01T00:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        when = when.astimezone(UTC)
    except OverflowError:
        when = None
    if when is None or not EARLIEST <= when <= LATEST:
        raise RequestError(name, f"must lie between {iso_utc(EARLIEST)} and {iso_utc(LATEST)}")
    return when


def _buoys(ids: list[str], max_buoys: int) -> tuple[str, ...] | None:
    if not ids or ids == [ALL_BUOYS]:
        return None
    for buoy in ids:
        if not is_valid_buoy_id(buoy):
            raise RequestError("buoy", f"{buoy[:64]!r} is not a buoy id")
    unique = tuple(dict.fromkeys(ids))
    if len(unique) > max_buoys:
        raise RequestError("buoy", f"at most {max_buoys} buoys per export: split the request")
    return unique


def _quantities(names: list[str]) -> tuple[Quantity, ...]:
    if not names:
        return DEFAULT_QUANTITIES
    for name in names:
        if name not in EXPORTABLE:
            raise RequestError(
                "quantity",
                f"{name[:64]!r} is not a measured quantity (known: {', '.join(EXPORTABLE)})",
            )
    return tuple(dict.fromkeys(EXPORTABLE[name] for name in names))


def _flags(texts: Iterable[str]) -> frozenset[Flag]:
    flags: set[Flag] = set()
    for text in texts:
        try:
            flags.add(Flag(int(text)))
        except ValueError:
            raise RequestError(
                "flags", f"{text[:64]!r} is not a QARTOD flag (1, 2, 3, 4 or 9)"
            ) from None
    return frozenset(flags) or DEFAULT_FLAGS


def _format(args: Mapping[str, Sequence[str]]) -> ExportFormat:
    text = _single(args, "format")
    try:
        return ExportFormat(text or ExportFormat.CSV.value)
    except ValueError:
        choices = ", ".join(f.value for f in ExportFormat)
        raise RequestError("format", f"{text[:64]!r} is not one of {choices}") from None


def iso_utc(when: datetime | None) -> str:
    """UTC ISO 8601 with a ``Z`` and milliseconds, the form every export writes."""
    if when is None:
        return ""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
