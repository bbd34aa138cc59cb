"""The export endpoint: ``GET /api/export`` with plain query parameters, errors as JSON.

Parameters (``dashboard.export.request``): ``buoy``, ``start``, ``end``, ``quantity``,
``flags``, ``format``. A bad parameter is a 400 ``{"error": "bad_parameter", "parameter": ...,
"message": ...}``; a request holding more rows than ``max_rows`` is a 413
``{"error": "too_many_rows", "message": ...}`` saying how to split it. Both are decided before
the first byte is sent, so a download never ends in an error written into its body. Beyond
the client's ``rate_limit`` the answer is a 429 (``rate_limits``); with ``max_concurrent``
downloads already streaming, from anyone, it is a 503 with ``Retry-After``, because each
download holds a request thread and the live pages must keep one.

Rows are streamed as they are read (``stream_with_context``); each chunk is read on a
connection taken from the app's read-only engine and given back at once, never the request's
own connection, which would stay checked out for the whole download.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, stream_with_context
from sqlalchemy import Engine

from dashboard import webcontext
from dashboard.export import csv_format, estimate, json_format, netcdf_format, page, query_api
from dashboard.export.api_request import (
    SETTINGS,
    api_error,
    asked_for,
    bad_parameter,
    settings_of,
)
from dashboard.export.columns import header
from dashboard.export.metadata import export_metadata
from dashboard.export.rate_limits import init_limits
from dashboard.export.request import ExportFormat, ExportRequest, RequestError
from dashboard.export.rows import ExportPlan, TooManyRows, iter_chunks, plan_export
from dashboard.export.settings import ExportSettings

ROWS_HEADER = "X-Export-Rows"  # the number of rows the body holds, for progress bars
SLOTS = "nemopi.export.slots"  # app.extensions: a semaphore of max_concurrent downloads
BUSY_RETRY_AFTER_S = 30

_DOWNLOADS = {  # media type and file extension of each downloadable format
    ExportFormat.CSV: (csv_format.MEDIA_TYPE, "csv"),
    ExportFormat.JSON: (json_format.MEDIA_TYPE, "jsonl"),
    ExportFormat.NETCDF: (netcdf_format.MEDIA_TYPE, "nc"),
}

bp = Blueprint("export", __name__, url_prefix="/api")


def init_app(app: Flask, settings: ExportSettings) -> None:
    """The export, its estimate, the query API and the export page, with the rate limits
    of ``settings``."""
    app.extensions[SETTINGS] = settings
    app.extensions[SLOTS] = threading.BoundedSemaphore(settings.max_concurrent)
    app.register_blueprint(bp)
    app.register_blueprint(estimate.bp)
    app.register_blueprint(query_api.bp)
    app.register_blueprint(page.bp)
    init_limits(app, settings, {bp: settings.rate_limit, estimate.bp: settings.estimate_rate_limit})


@bp.get("/export")
def export() -> Response:
    settings = settings_of(current_app)
    engine = webcontext.engine(current_app)
    try:
        asked = asked_for(settings)
        with engine.connect() as conn:
            plan = plan_export(conn, asked, settings.max_rows)
            metadata: dict[str, Any] = {}
            if asked.format in (ExportFormat.METADATA, ExportFormat.NETCDF):
                metadata = export_metadata(
                    conn, plan, settings, now=webcontext.now(), url=request.url
                )
    except RequestError as exc:
        return bad_parameter(exc)
    except TooManyRows as exc:
        return api_error(413, error="too_many_rows", message=exc.message)
    if asked.format is ExportFormat.METADATA:
        return jsonify(metadata)
    slots: threading.BoundedSemaphore = current_app.extensions[SLOTS]
    if not slots.acquire(blocking=False):
        return _busy(settings.max_concurrent)
    try:
        response = _download(asked, plan, metadata, engine, settings)
    except BaseException:
        slots.release()
        raise
    # The server closes every response, streamed to the end, cut off or never started.
    response.call_on_close(slots.release)
    return response


def _busy(max_concurrent: int) -> Response:
    response = api_error(
        503,
        error="busy",
        message=(
            f"{max_concurrent} exports are streaming, as many as this server allows at once; "
            f"try again in {BUSY_RETRY_AFTER_S} s"
        ),
    )
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    return response


def _download(
    asked: ExportRequest,
    plan: ExportPlan,
    metadata: dict[str, Any],
    engine: Engine,
    settings: ExportSettings,
) -> Response:
    """The streamed file of ``plan`` in the format ``asked`` for."""
    chunks = iter_chunks(engine, plan, settings.chunk_rows)
    body: Iterator[bytes]
    if asked.format is ExportFormat.NETCDF:
        body = netcdf_format.netcdf_bytes(plan, metadata, chunks)
    elif asked.format is ExportFormat.JSON:
        body = json_format.json_lines(header(asked.quantities), chunks)
    else:
        body = csv_format.csv_bytes(header(asked.quantities), chunks)
    media_type, extension = _DOWNLOADS[asked.format]
    described_by = f"{request.base_url}?{asked.query(format=ExportFormat.METADATA)}"
    headers = {
        "Content-Disposition": f'attachment; filename="nemopi-export.{extension}"',
        "Link": f'<{described_by}>; rel="describedby"; type="application/json"',
        ROWS_HEADER: str(plan.rows),
        "Cache-Control": "no-store",
    }
    return Response(stream_with_context(body), content_type=media_type, headers=headers)
