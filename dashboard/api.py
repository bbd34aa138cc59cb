"""The JSON API: the overview's data for scripts and future pages. Read-only, GET only.

Times are ISO 8601 in UTC; units are the catalogue's (UDUNITS); a reading's ``time`` is null
when it was taken before the buoy's clock was set (``clock`` says "UNSYNCED").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint

from dashboard import webcontext
from dashboard.overview import BuoyOverview, LatestReading, load_overview

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/buoys")
def buoys() -> dict[str, Any]:
    now = webcontext.now()
    overview = load_overview(webcontext.connection(), now)
    return {"generated_at": _iso(now), "buoys": [_buoy(b, now) for b in overview]}


def _buoy(b: BuoyOverview, now: datetime) -> dict[str, Any]:
    return {
        "id": b.id,
        "state": b.state.value,
        "first_seen": _iso(b.first_seen),
        "last_heard": _iso(b.last_heard),
        "status_as_of": _iso(b.status_as_of),
        "next_report": _iso(b.next_report),
        "latest": [_reading(r, now) for r in b.readings],
    }


def _reading(r: LatestReading, now: datetime) -> dict[str, Any]:
    return {
        "quantity": r.quantity.name,
        "label": r.quantity.label,
        "unit": r.quantity.unit,
        "value": r.value,
        "status": r.status.name,
        "seq": r.seq,
        "clock": r.clock.name,
        "time": _iso(r.time_utc),
        "age_s": None if r.time_utc is None else round((now - r.time_utc).total_seconds()),
        "received_at": _iso(r.received_at),
    }


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")
