"""How values, units and times are shown to people on a phone: short, plain, in UTC.

Pure functions, no Flask: the pages use them as template filters and tests call them directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_UNIT_SYMBOLS = {
    "1": "",
    "degree_Celsius": "°C",
    "degree": "°",
    "degrees_north": "°N",
    "degrees_east": "°E",
    "m s-1": "m/s",
}


def unit_symbol(unit: str) -> str:
    """The catalogue's (UDUNITS) unit as people write it."""
    return _UNIT_SYMBOLS.get(unit, unit)


def value_text(value: float | None, decimals: int) -> str:
    return "–" if value is None else f"{value:.{decimals}f}"


def age_text(then: datetime | None, now: datetime) -> str:
    """ "3 min ago" and the like; "unknown" without a time."""
    if then is None:
        return "unknown"
    age = now - then
    if age < timedelta(seconds=-60):
        return "in the future (clock ahead?)"
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def utc_text(when: datetime | None) -> str:
    return "never" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
