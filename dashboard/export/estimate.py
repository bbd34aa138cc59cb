"""What an export would be before it starts: ``GET /api/export/estimate``, same parameters.

The export page shows it before the download, and a script can ask it to decide how to split
its work. The row count is the export's own (exact, and stopping at ``max_rows``, so asking
costs no more than that). Sizes are estimated per format: CSV and JSON Lines by writing the
first rows with the export's own writers and scaling up, NetCDF from its variables' widths.
Beyond ``max_rows`` the answer is still a 200, with ``over_limit`` and the advice on splitting
that the export's 413 would give.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, url_for
from sqlalchemy import Engine

from dashboard import webcontext
from dashboard.export import csv_format, json_format
from dashboard.export.api_request import asked_for, bad_parameter, settings_of
from dashboard.export.columns import header
from dashboard.export.request import ExportRequest, RequestError
from dashboard.export.rows import ExportPlan, Row, TooManyRows, iter_chunks, plan_export

SAMPLE_ROWS = 200  # rows written to measure a row's bytes; enough for a steady average
# NetCDF bytes: time f8, station i4, seq i8, latitude f8, longitude f8, position source i1,
# and per quantity its value f8, flag i1 and status i2; plus the header and attributes.
NETCDF_ROW_BYTES = 8 + 4 + 8 + 8 + 8 + 1
NETCDF_QUANTITY_BYTES = 8 + 1 + 2
NETCDF_HEADER_BYTES = 16_384

bp = Blueprint("export_estimate", __name__, url_prefix="/api/export")


@bp.get("/estimate")
def estimate() -> Response:
    settings = settings_of(current_app)
    engine = webcontext.engine(current_app)
    try:
        asked = asked_for(settings)
        with engine.connect() as conn:
            plan = plan_export(conn, asked, settings.max_rows)
    except RequestError as exc:
        return bad_parameter(exc)
    except TooManyRows as exc:
        return jsonify(_over_limit(asked, settings.max_rows, exc.message))
    return jsonify(
        {
            "rows": plan.rows,
            "max_rows": settings.max_rows,
            "over_limit": False,
            "bytes": estimated_bytes(engine, plan),
            "format": asked.format.value,
            "message": None,
            "download": f"{url_for('export.export')}?{asked.query()}",
        }
    )


def estimated_bytes(engine: Engine, plan: ExportPlan) -> dict[str, int]:
    """Approximate sizes of the plan's export in each downloadable format."""
    columns = header(plan.request.quantities)
    sample = list(islice(_rows(engine, plan), SAMPLE_ROWS))
    csv_header, *csv_chunks = csv_format.csv_bytes(columns, [sample])
    json_chunks = list(json_format.json_lines(columns, [sample]))
    per_quantity = NETCDF_QUANTITY_BYTES * len(plan.request.quantities)
    return {
        "csv": len(csv_header) + _scaled(sum(map(len, csv_chunks)), len(sample), plan.rows),
        "json": _scaled(sum(map(len, json_chunks)), len(sample), plan.rows),
        "netcdf": NETCDF_HEADER_BYTES + plan.rows * (NETCDF_ROW_BYTES + per_quantity),
    }


def _rows(engine: Engine, plan: ExportPlan) -> Iterator[Row]:
    for chunk in iter_chunks(engine, plan, SAMPLE_ROWS):
        yield from chunk


def _scaled(sample_bytes: int, sample_rows: int, rows: int) -> int:
    return 0 if sample_rows == 0 else round(sample_bytes * rows / sample_rows)


def _over_limit(asked: ExportRequest, max_rows: int, message: str) -> dict[str, Any]:
    return {
        "rows": None,
        "max_rows": max_rows,
        "over_limit": True,
        "bytes": None,
        "format": asked.format.value,
        "message": message,
        "download": None,
    }
