"""The JSON API the live pages poll, documented in docs/api.md. Read-only, GET only.

Times are ISO 8601 in UTC with a ``Z``; each reef also gives its time zone and offset so a
client can show local times. ``/api/overview`` and ``/api/reefs/<id>`` carry an ETag computed
from everything but the time of the response and the ages (seconds and words) derived from it,
so a page polling with ``If-None-Match`` gets an empty 304 until something it shows has
changed (a client keeps the ages current itself). The pages render the same dictionaries
(``overview_view``, ``reef_view``), so the words a page is first served with and the words
the live updates write are the same words.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import Connection

from dashboard import display, rollups, webcontext
from dashboard.config import WebConfig
from dashboard.heartbeat import ingest_liveness
from dashboard.reefs import (
    VISIBILITY,
    CurrentValue,
    HeatStressCache,
    Reef,
    ReefHeatStress,
    ReefSettings,
    load_reefs,
)
from dashboard.verdict import Reason
from dashboard.visibility_reports import recent_reports
from nemopi.catalogue import Quantity, by_name

bp = Blueprint("api", __name__, url_prefix="/api")

HEAT_STRESS_CACHE = "nemopi.heat_stress_cache"
RECENT_REPORTS = timedelta(days=7)
# Keys whose values follow from the response time alone: left out of the ETag, or unchanged
# data would be sent in full every minute, when "20 min ago" turns "21 min ago".
_VOLATILE = frozenset({"generated_at", "age_s", "age_text"})
# Position is shown on the map, not charted.
_NOT_CHARTED = frozenset({"latitude", "longitude"})


def reef_settings() -> ReefSettings:
    config = webcontext.web_config()
    cache = current_app.extensions.setdefault(HEAT_STRESS_CACHE, HeatStressCache())
    return ReefSettings(config.verdict, config.heat_stress, config.visibility, cache)


@bp.get("/overview")
def overview() -> Response:
    conn = webcontext.connection()
    now = webcontext.now()
    reefs = load_reefs(conn, reef_settings(), now)
    return _conditional(overview_view(conn, webcontext.web_config(), reefs, now))


@bp.get("/reefs/<reef_id>")
def reef(reef_id: str) -> Response:
    conn = webcontext.connection()
    now = webcontext.now()
    found = load_reefs(conn, reef_settings(), now, reef_id)
    if not found:
        return _error(404, f"no reef {reef_id!r}")
    return _conditional(reef_detail_view(conn, found[0], now))


@bp.get("/reefs/<reef_id>/series")
def series(reef_id: str) -> Response:
    conn = webcontext.connection()
    now = webcontext.now()
    name = request.args.get("quantity", "")
    window = request.args.get("window", "24h")
    quantity = _chartable(name)
    if quantity is None:
        return _error(400, f"quantity {name!r} is not a charted quantity", "quantity")
    if window not in rollups.WINDOWS:
        return _error(400, f"window {window!r}: one of {', '.join(rollups.WINDOWS)}", "window")
    found = load_reefs(conn, reef_settings(), now, reef_id)
    if not found:
        return _error(404, f"no reef {reef_id!r}")
    return jsonify(series_view(conn, found[0], quantity, window, now))


@bp.get("/buoys")
def buoys() -> dict[str, Any]:
    now = webcontext.now()
    found = sorted(load_reefs(webcontext.connection(), reef_settings(), now), key=lambda r: r.id)
    return {"generated_at": display.iso_utc(now), "buoys": [_buoy(r, now) for r in found]}


def overview_view(
    conn: Connection, config: WebConfig, reefs: list[Reef], now: datetime
) -> dict[str, Any]:
    """``reefs`` (in overview order) and whether the ingest is alive."""
    liveness = ingest_liveness(conn, now, timedelta(seconds=config.ingest_silent_after_s))
    zone = page_zone(reefs)
    return {
        "generated_at": display.iso_utc(now),
        "poll_s": config.poll_s,
        "ingest": {
            "state": liveness.state,
            "last_beat": display.iso_utc(liveness.last_beat),
            "last_stored": display.iso_utc(liveness.last_stored_at),
            "text": display.ingest_text(
                liveness.state, liveness.last_beat, liveness.last_stored_at, zone, now
            ),
        },
        "reefs": [reef_view(r, now) for r in reefs],
    }


def page_zone(reefs: list[Reef]) -> tzinfo:
    """The zone for times that belong to no one reef: the reefs' own if they share one."""
    names = {r.timezone_name for r in reefs}
    return reefs[0].timezone if len(names) == 1 else UTC


def reef_view(reef: Reef, now: datetime) -> dict[str, Any]:
    """One reef as the overview shows it (the contract's Reef object)."""
    return {
        "id": reef.id,
        "name": reef.name,
        "url": url_for("pages.reef", reef_id=reef.id),
        "timezone": reef.timezone_name,
        "timezone_known": reef.timezone_known,
        "utc_offset": display.utc_offset(reef.timezone, now),
        "offset_label": display.offset_label(reef.timezone, now),
        "position": None
        if reef.position is None
        else {
            "latitude": reef.position.latitude,
            "longitude": reef.position.longitude,
            "moored": reef.position.moored,
        },
        "verdict": {
            "level": reef.verdict.level.text,
            "word": reef.verdict.level.text.capitalize(),
            "shape": reef.verdict.level.shape,
            "colour": reef.verdict.level.colour,
            "reasons": [_reason(reef, r, now) for r in reef.verdict.reasons],
        },
        "link": {
            "state": reef.link.state.value,
            "last_heard": display.iso_utc(reef.link.last_heard),
            "next_report": display.iso_utc(reef.link.next_report),
            "text": display.link_text(
                reef.link.state.value,
                reef.link.last_heard,
                reef.link.next_report,
                reef.timezone,
                now,
            ),
        },
        "heat_stress": None if reef.heat_stress is None else _heat(reef.heat_stress),
        "key_values": [_value(v, now) for v in reef.key_values()],
    }


def reef_detail_view(conn: Connection, reef: Reef, now: datetime) -> dict[str, Any]:
    """One reef as its own page shows it: the overview's view and everything behind it."""
    reports = recent_reports(conn, reef.key, now - RECENT_REPORTS, reef.conversion)
    visibility = reef.value(VISIBILITY.name)
    conversion = reef.conversion
    charted = [v.quantity for v in reef.values if v.quantity.name not in _NOT_CHARTED]
    return {
        **reef_view(reef, now),
        "generated_at": display.iso_utc(now),
        "latest": [_value(v, now) for v in reef.values],
        "visibility": {
            "estimate_m": None if visibility is None else visibility.value,
            "conversion": {
                "source": conversion.source,
                "reports_used": conversion.reports_used,
                "clear_water_attenuation_per_m": conversion.clear_water_attenuation_per_m,
                "attenuation_per_ntu": conversion.attenuation_per_ntu,
                "note": conversion.note,
            },
            "reports": [
                {
                    "shop": r.shop,
                    "observed_at": display.iso_utc(r.observed_at),
                    "observed_text": display.local_time_text(r.observed_at, reef.timezone, now),
                    "visibility_m": r.visibility_m,
                    "estimate_m": r.estimate_m,
                }
                for r in reports
            ],
        },
        "heat_stress_days": []
        if reef.heat_stress is None
        else [
            {
                "day": d.day.isoformat(),
                "mean_c": d.mean_c,
                "hours": d.hours,
                "hotspot_c": d.hotspot_c,
            }
            for d in reef.heat_stress.days
        ],
        "charts": [
            {
                "quantity": q.name,
                "label": q.label,
                "series": url_for("api.series", reef_id=reef.id, quantity=q.name),
            }
            for q in charted
        ],
    }


def series_view(
    conn: Connection, reef: Reef, quantity: Quantity, window: str, now: datetime
) -> dict[str, Any]:
    """A chart's buckets; visibility comes from the turbidity buckets through the reef's
    conversion (which falls as turbidity rises, so a bucket's minimum visibility is its
    maximum turbidity's)."""
    source = by_name("turbidity") if quantity == VISIBILITY else quantity
    found = rollups.series(conn, reef.key, source, window, now)
    means, lows, highs = list(found.mean), list(found.min), list(found.max)
    if quantity == VISIBILITY:
        convert = reef.conversion.visibility_m
        means = [None if v is None else convert(v) for v in found.mean]
        lows = [None if v is None else convert(v) for v in found.max]
        highs = [None if v is None else convert(v) for v in found.min]
    return {
        "quantity": quantity.name,
        "label": quantity.label,
        "unit": display.unit_symbol(quantity.unit),
        "decimals": quantity.decimals,
        "window": window,
        "period_s": found.period_s,
        "start": display.iso_utc(found.start),
        "end": display.iso_utc(found.end),
        "t": [int(t.timestamp()) for t in found.times],
        "mean": means,
        "min": lows,
        "max": highs,
        "n": list(found.n),
        "suspect": list(found.n_suspect),
        "bad": list(found.n_bad),
    }


def _chartable(name: str) -> Quantity | None:
    try:
        quantity = by_name(name)
    except KeyError:
        return None
    if quantity.name in _NOT_CHARTED or (quantity.derived and quantity != VISIBILITY):
        return None
    return quantity


def _reason(reef: Reef, reason: Reason, now: datetime) -> dict[str, Any]:
    reading = reef.value(reason.quantity)
    time = None if reason.age is None or reading is None else reading.time
    return {
        "quantity": reason.quantity,
        "level": reason.level.text,
        "value": reason.value,
        "unit": reason.unit,
        "threshold": reason.threshold,
        "time": display.iso_utc(time),
        "age_s": display.age_s(time, now),
        "age_text": display.age_text(time, now),
        "suspect": reason.suspect,
        "text": reason.text,
    }


def _value(v: CurrentValue, now: datetime) -> dict[str, Any]:
    return {
        "quantity": v.quantity.name,
        "label": v.quantity.label,
        "value": v.value,
        "unit": display.unit_symbol(v.quantity.unit),
        "decimals": v.quantity.decimals,
        "text": display.value_text(v.value, v.quantity.decimals),
        "time": display.iso_utc(v.time),
        "age_s": display.age_s(v.time, now),
        "age_text": display.age_text(v.time, now)
        if v.time
        else f"clock not set; received {display.age_text(v.received_at, now)}",
        "qc": v.qc,
        "status": display.status_text(v.status.name),
    }


def _heat(heat: ReefHeatStress) -> dict[str, Any]:
    latest = heat.latest
    missing = 0 if latest is None else latest.dhw.missing_days
    dhw = 0.0 if latest is None else round(latest.dhw.value, 2)
    alert = None if latest is None else latest.alert
    hotspot = None if latest is None else latest.hotspot_c
    return {
        "alert": None if alert is None else alert.label,
        "alert_level": None if alert is None else int(alert),
        "meaning": None if alert is None else display.ALERT_MEANINGS[alert],
        "dhw": dhw,
        "hotspot_c": hotspot,
        "mean_c": None if latest is None else latest.mean_c,
        "day": None if latest is None else latest.day.isoformat(),
        "lower_bound": latest is not None and latest.dhw.is_lower_bound,
        "missing_days": missing,
        "complete": latest is not None and latest.dhw.complete,
        "text": display.heat_stress_text(alert, hotspot, dhw, missing),
    }


def _conditional(payload: dict[str, Any]) -> Response:
    """``payload`` as JSON with an ETag of its lasting content; 304 when the client has it."""
    lasting = json.dumps(_without_volatile(payload), sort_keys=True, separators=(",", ":"))
    response = jsonify(payload)
    response.set_etag(hashlib.sha256(lasting.encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


def _without_volatile(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_volatile(v) for k, v in data.items() if k not in _VOLATILE}
    if isinstance(data, list):
        return [_without_volatile(v) for v in data]
    return data


def _error(status: int, message: str, parameter: str | None = None) -> Response:
    """The one error form of the whole /api (``Error`` in /api/openapi.json)."""
    body = {"error": "not_found" if status == 404 else "bad_parameter", "message": message}
    if parameter is not None:
        body["parameter"] = parameter
    response = jsonify(body)
    response.status_code = status
    return response


def _buoy(reef: Reef, now: datetime) -> dict[str, Any]:
    return {
        "id": reef.id,
        "state": reef.link.state.value,
        "first_seen": display.iso_utc(reef.first_seen),
        "last_heard": display.iso_utc(reef.link.last_heard),
        "status_as_of": display.iso_utc(reef.link.status_as_of),
        "next_report": display.iso_utc(reef.link.next_report),
        "latest": [_reading(v, now) for v in reef.values if not v.quantity.derived],
    }


def _reading(v: CurrentValue, now: datetime) -> dict[str, Any]:
    return {
        "quantity": v.quantity.name,
        "label": v.quantity.label,
        "unit": v.quantity.unit,
        "value": v.value,
        "status": v.status.name,
        "seq": v.seq,
        "clock": v.clock.name,
        "time": display.iso_utc(v.time),
        "age_s": display.age_s(v.time, now),
        "received_at": display.iso_utc(v.received_at),
    }
