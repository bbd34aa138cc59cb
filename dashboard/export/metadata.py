"""What travels with every export: where the data come from and how to cite them.

``export_metadata`` returns one JSON-ready mapping: ``attributes`` are the ACDD 1.3 global
attributes (the NetCDF file's own, the sidecar's top), then the buoys with their mooring and
calibration history, the QC configuration whose flags are exported, and one entry per column
with its unit, CF standard name and meaning. The CSV and JSON exports point to it with a
``Link: <...format=metadata>; rel="describedby"`` header.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from dashboard.calibrations import calibration_history
from dashboard.export.columns import POSITION_SOURCES, qc_column, status_column, value_column
from dashboard.export.request import iso_utc
from dashboard.export.rows import BuoyInfo, ExportPlan, time_range
from dashboard.export.settings import ExportSettings
from dashboard.models import qc_configs, samples
from dashboard.qc.flags import Flag
from nemopi import __version__
from nemopi.catalogue import Quantity
from nemopi.sensor_status import SensorStatus

CONVENTIONS = "CF-1.8, ACDD-1.3"
FLAG_MEANINGS = {
    Flag.GOOD: "pass",
    Flag.NOT_EVALUATED: "not_evaluated",
    Flag.SUSPECT: "suspect",
    Flag.FAIL: "fail",
    Flag.MISSING: "missing",
}
QC_REFERENCE = "https://ioos.noaa.gov/project/qartod/"
NOTES = (
    "Times are UTC (ISO 8601 with Z). Samples taken before the buoy's clock was set have no "
    "UTC time and are not exported.",
    "latitude/longitude: the sample's GPS fix when both coordinates have a kept QC flag "
    "(position_source 'gps'), else the buoy's registered mooring ('mooring'), else empty.",
    "<quantity>_qc: aggregate QARTOD flag of the QC version named here (1 pass, 2 not "
    "evaluated, 3 suspect, 4 fail, 9 missing); a reading not flagged yet is 2, or 9 when it "
    "has no value or the sample does not carry the quantity. A value whose flag was not "
    "asked for is left empty.",
    "Values are as the buoy sent them: QC flags them, it never changes them.",
)


def export_metadata(
    conn: Connection, plan: ExportPlan, settings: ExportSettings, *, now: datetime, url: str
) -> dict[str, Any]:
    """The metadata of ``plan``'s export, made at ``now`` for the request at ``url``."""
    coverage = _coverage(conn, plan)
    buoys = [_buoy(conn, b) for b in plan.buoys]
    return {
        "attributes": _attributes(plan, settings, coverage, now, url),
        "buoys": buoys,
        "qc": _qc(conn, plan.qc_version),
        "columns": _columns(plan.request.quantities),
        "rows": plan.rows,
        "notes": list(NOTES),
    }


def _attributes(
    plan: ExportPlan,
    settings: ExportSettings,
    coverage: tuple[datetime | None, datetime | None],
    now: datetime,
    url: str,
) -> dict[str, Any]:
    ids = ", ".join(b.id for b in plan.buoys) or "no buoy"
    start, end = (iso_utc(t) for t in coverage)
    institution = settings.institution or "not configured"
    attributes: dict[str, Any] = {
        "Conventions": CONVENTIONS,
        "featureType": "timeSeries",
        "cdm_data_type": "Station",
        "title": f"Reef buoy observations: {ids}",
        "summary": (
            "Water quality, currents, air and buoy health time series from moored "
            "reef-monitoring buoys, one row per sample, each value with its aggregate QARTOD "
            "quality flag and the buoy's own sensor status."
        ),
        "keywords": "coral reef, sea water temperature, pH, turbidity, QARTOD",
        "institution": institution,
        "creator_name": institution,
        "creator_url": settings.creator_url,
        "license": settings.license,
        "source": f"moored reef-monitoring buoys running nemopi {__version__}",
        "platform": "moored surface buoy",
        "processing_level": "raw values with automated QARTOD quality flags",
        "history": f"{iso_utc(now)} exported by nemopi {__version__} from {url}",
        "references": settings.references or QC_REFERENCE,
        "date_created": iso_utc(now),
        "product_version": __version__,
        "time_coverage_start": start,
        "time_coverage_end": end,
        "qc_version": plan.qc_version or "",
        "citation": (
            f"{institution} ({now.year}). {ids}: reef buoy observations "
            f"{start or '-'} to {end or '-'}. Exported {iso_utc(now)[:10]} with nemopi "
            f"{__version__} from {url}. Licence: {settings.license}."
        ),
    }
    moorings = [
        (b.mooring_latitude, b.mooring_longitude)
        for b in plan.buoys
        if b.mooring_latitude is not None and b.mooring_longitude is not None
    ]
    if moorings:
        lats, lons = zip(*moorings, strict=True)
        attributes.update(
            geospatial_lat_min=min(lats),
            geospatial_lat_max=max(lats),
            geospatial_lon_min=min(lons),
            geospatial_lon_max=max(lons),
            geospatial_lat_units="degrees_north",
            geospatial_lon_units="degrees_east",
        )
    return {name: value for name, value in attributes.items() if value != ""}


def _coverage(conn: Connection, plan: ExportPlan) -> tuple[datetime | None, datetime | None]:
    """First and last exported time, one index lookup per end and buoy."""
    if not plan.buoys:
        return None, None
    firsts: list[datetime] = []
    lasts: list[datetime] = []
    for buoy in plan.buoys:
        where = [samples.c.buoy_key == buoy.key, *time_range(plan.request)]
        first = conn.execute(select(func.min(samples.c.time_utc)).where(*where)).scalar()
        last = conn.execute(select(func.max(samples.c.time_utc)).where(*where)).scalar()
        if first is not None and last is not None:
            firsts.append(first)
            lasts.append(last)
    return (min(firsts), max(lasts)) if firsts else (None, None)


def _buoy(conn: Connection, buoy: BuoyInfo) -> dict[str, Any]:
    return {
        "id": buoy.id,
        "name": buoy.name,
        "timezone": buoy.timezone,
        "mooring": {
            "latitude": buoy.mooring_latitude,
            "longitude": buoy.mooring_longitude,
            "radius_m": buoy.mooring_radius_m,
        },
        "calibrations": [
            {
                "part": stored.calibration.part,
                "version": stored.calibration.version,
                "procedure": stored.calibration.procedure,
                "calibrated_at": iso_utc(stored.calibration.calibrated_at),
                "values": dict(stored.calibration.values),
            }
            for stored in calibration_history(conn, buoy.id)
        ],
    }


def _qc(conn: Connection, version: str | None) -> dict[str, Any]:
    flags = {str(int(flag)): meaning for flag, meaning in FLAG_MEANINGS.items()}
    if version is None:
        return {"version": None, "flag_meanings": flags, "method": "no QC has run yet"}
    row = conn.execute(select(qc_configs).where(qc_configs.c.version == version)).one()
    return {
        "version": version,
        "first_used": iso_utc(row.first_used),
        "last_activated": iso_utc(row.last_activated),
        "method": f"QARTOD tests (ioos_qc), see {QC_REFERENCE}",
        "flag_meanings": flags,
        "thresholds": json.loads(row.resolved),
    }


def _columns(quantities: tuple[Quantity, ...]) -> list[dict[str, Any]]:
    columns: list[dict[str, Any]] = [
        {
            "name": "time",
            "description": "sample time, UTC, ISO 8601 with Z",
            "standard_name": "time",
        },
        {"name": "buoy_id", "description": "the buoy's id"},
        {"name": "latitude", "unit": "degrees_north", "standard_name": "latitude"},
        {"name": "longitude", "unit": "degrees_east", "standard_name": "longitude"},
        {"name": "position_source", "description": f"one of {', '.join(POSITION_SOURCES)}"},
    ]
    statuses = ", ".join(s.name for s in SensorStatus)
    for q in quantities:
        columns += [
            {
                "name": value_column(q),
                "quantity": q.name,
                "description": q.label,
                "unit": q.unit,
                "standard_name": q.cf_standard_name,
                "valid_min": q.valid_min,
                "valid_max": q.valid_max,
            },
            {"name": qc_column(q), "description": f"aggregate QARTOD flag of {q.name}"},
            {"name": status_column(q), "description": f"sensor status of {q.name}: {statuses}"},
        ]
    return columns
