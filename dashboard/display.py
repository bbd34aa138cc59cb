"""How values, units and times are shown to people on a phone: short, plain, in the reef's time.

Pure functions, no Flask: the pages use them as template filters and tests call them directly.
A time is shown on the reef's own clock with its offset ("06:40 (UTC+8)"), because the skipper
reading it is on that reef's pier; the JSON API sends the same instants in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from dashboard.heat_stress import DHW_WINDOW_DAYS, AlertLevel

_UNIT_SYMBOLS = {
    "1": "",
    "degree_Celsius": "°C",
    "degree": "°",
    "degrees_north": "°N",
    "degrees_east": "°E",
    "m s-1": "m/s",
}

# What each of CRW's levels means for the corals (NOAA Coral Reef Watch, "Bleaching Alert
# Area", coralreefwatch.noaa.gov/product/5km/index_5km_baa-max-7d.php).
ALERT_MEANINGS = {
    AlertLevel.NO_STRESS: "no heat stress",
    AlertLevel.WATCH: "low-level heat stress",
    AlertLevel.WARNING: "heat stress building: bleaching possible",
    AlertLevel.ALERT_1: "significant bleaching likely",
    AlertLevel.ALERT_2: "severe bleaching and significant coral deaths likely",
    AlertLevel.ALERT_3: "deaths of many coral species likely",
    AlertLevel.ALERT_4: "deaths of most corals (over 50 %) likely",
    AlertLevel.ALERT_5: "deaths of nearly all corals (over 80 %) likely",
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


def age_s(then: datetime | None, now: datetime) -> int | None:
    return None if then is None else round((now - then).total_seconds())


def iso_utc(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as the JSON API sends times."""
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utc_text(when: datetime | None) -> str:
    return "never" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def utc_offset(zone: tzinfo, when: datetime) -> str:
    """The zone's offset at ``when`` as ISO 8601 writes it: "+08:00", "-03:30"."""
    minutes = _offset_minutes(zone, when)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def offset_label(zone: tzinfo, when: datetime) -> str:
    """The zone's offset as people say it: "UTC+8", "UTC+5:30", "UTC"."""
    minutes = _offset_minutes(zone, when)
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def local_time_text(when: datetime | None, zone: tzinfo, now: datetime) -> str:
    """``when`` on the reef's clock: "06:40 (UTC+8)", with the date when it is not today
    there ("31 May 06:40 (UTC+8)"); "never" without a time."""
    if when is None:
        return "never"
    local = when.astimezone(zone)
    clock = local.strftime("%H:%M")
    if local.date() != now.astimezone(zone).date():
        clock = f"{local.day} {local.strftime('%b')} {clock}"
    return f"{clock} ({offset_label(zone, when)})"


def link_text(
    state: str,
    last_heard: datetime | None,
    next_report: datetime | None,
    zone: tzinfo,
    now: datetime,
) -> str:
    """What the buoy's link state means for the skipper, in one line."""
    heard = local_time_text(last_heard, zone, now)
    if state == "online":
        return f"Online; last heard {heard}"
    if state == "sleeping":
        expected = local_time_text(next_report, zone, now)
        return f"Sleeping to save power; next report expected at {expected}"
    if state == "silent":
        return f"Silent since {heard}: its status promised more by now"
    if state == "offline":
        if next_report is not None:
            expected = local_time_text(next_report, zone, now)
            return f"Offline: the report expected at {expected} has not come; last heard {heard}"
        return f"Offline (connection lost); last heard {heard}"
    return f"No status received yet; last heard {heard}"


def ingest_text(
    state: str,
    last_beat: datetime | None,
    last_stored: datetime | None,
    zone: tzinfo,
    now: datetime,
) -> str:
    """The data feed's banner: quiet while the ingest is alive, loud when it is not."""
    if state == "alive":
        return f"Data feed live; last reading stored {local_time_text(last_stored, zone, now)}"
    if state == "silent":
        stopped = local_time_text(last_beat, zone, now)
        return f"Data feed stopped at {stopped}: readings below may be out of date"
    return "No data feed has ever run here: readings below are not live"


def heat_stress_text(
    alert: AlertLevel | None, hotspot_c: float | None, dhw: float, missing_days: int
) -> str:
    """The heat stress line: CRW's level, what it means, HotSpot and DHW."""
    if missing_days == DHW_WINDOW_DAYS:
        return f"Heat stress: not enough temperature data in the last {DHW_WINDOW_DAYS} days"
    bound = ""
    if missing_days:
        bound = f" (lower bound: {missing_days} of {DHW_WINDOW_DAYS} days missing)"
    if alert is None or hotspot_c is None:
        return f"Heat stress: not enough temperature data lately; DHW {dhw:.1f} °C-weeks{bound}"
    return (
        f"{alert.label}: {ALERT_MEANINGS[alert]}. HotSpot {hotspot_c:.2f} °C, "
        f"DHW {dhw:.1f} °C-weeks{bound}"
    )


def status_text(status_name: str) -> str:
    """A sensor status as words: "OK", "warming up", "unreachable"."""
    return "OK" if status_name == "OK" else status_name.lower().replace("_", " ")


def _offset_minutes(zone: tzinfo, when: datetime) -> int:
    offset = when.astimezone(zone).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)
