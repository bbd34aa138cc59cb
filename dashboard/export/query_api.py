"""The query API's descriptive endpoints: what can be exported, and the OpenAPI document.

``GET /api/quantities`` is the catalogue's measured quantities with units, CF names and the
export's column names; ``GET /api/export/buoys`` is every buoy with its registered metadata
and the UTC time range of its exportable samples (what ``GET /api/buoys`` of the live pages
does not say); ``GET /api/openapi.json`` describes the whole ``/api``. None is rate limited:
each answer is a few small indexed queries at most.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import Connection, func, select

from dashboard import webcontext
from dashboard.export.columns import qc_column, status_column, value_column
from dashboard.export.request import DEFAULT_QUANTITIES, EXPORTABLE, iso_utc
from dashboard.models import buoys, samples

OPENAPI_FILE = "openapi.json"

bp = Blueprint("query_api", __name__, url_prefix="/api")


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``/api``, read once from the package."""
    found: dict[str, Any] = json.loads(files("dashboard").joinpath(OPENAPI_FILE).read_text())
    return found


@bp.get("/quantities")
def quantities() -> dict[str, Any]:
    return {
        "quantities": [
            {
                "name": q.name,
                "label": q.label,
                "unit": q.unit,
                "cf_standard_name": q.cf_standard_name,
                "valid_min": q.valid_min,
                "valid_max": q.valid_max,
                "group": q.group.value,
                "exported_by_default": q in DEFAULT_QUANTITIES,
                "columns": {
                    "value": value_column(q),
                    "qc": qc_column(q),
                    "status": status_column(q),
                },
            }
            for q in EXPORTABLE.values()
        ]
    }


@bp.get("/export/buoys")
def export_buoys() -> dict[str, Any]:
    return {"buoys": exportable_buoys(webcontext.connection())}


def exportable_buoys(conn: Connection) -> list[dict[str, Any]]:
    """Every stored buoy by id, with the UTC times of its first and last exportable samples
    (each a lookup on the (buoy, time) index, however many samples there are)."""
    timed = samples.c.buoy_key == buoys.c.key, samples.c.time_utc.is_not(None)
    first = select(func.min(samples.c.time_utc)).where(*timed).scalar_subquery()
    last = select(func.max(samples.c.time_utc)).where(*timed).scalar_subquery()
    query = select(
        buoys.c.id,
        buoys.c.name,
        buoys.c.timezone,
        buoys.c.mooring_latitude,
        buoys.c.mooring_longitude,
        buoys.c.mooring_radius_m,
        first.label("first"),
        last.label("last"),
    ).order_by(buoys.c.id)
    return [
        {
            "id": row.id,
            "name": row.name,
            "timezone": row.timezone,
            "mooring": None
            if row.mooring_latitude is None or row.mooring_longitude is None
            else {
                "latitude": row.mooring_latitude,
                "longitude": row.mooring_longitude,
                "radius_m": row.mooring_radius_m,
            },
            "first_time": iso_utc(row.first) or None,
            "last_time": iso_utc(row.last) or None,
        }
        for row in conn.execute(query)
    ]
