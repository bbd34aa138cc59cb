"""The export page, ``GET /export``: a form over ``GET /api/export`` for people, not scripts.

The form is a plain GET form to the export endpoint, so it works without JavaScript. With it
(static/export.js) the page shows the estimate before anything starts, then streams the
download with a progress bar and a cancel button, and saves it. Not rate limited: the page
itself costs one small query per buoy; the exports it starts are limited like any other.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from dashboard import webcontext
from dashboard.export.metadata import FLAG_MEANINGS
from dashboard.export.query_api import exportable_buoys
from dashboard.export.request import DEFAULT_FLAGS, DEFAULT_QUANTITIES, EXPORTABLE, ExportFormat

FORMATS = {
    ExportFormat.CSV: "CSV (pandas, R, spreadsheets)",
    ExportFormat.JSON: "JSON Lines",
    ExportFormat.NETCDF: "NetCDF (CF-1.8)",
}

bp = Blueprint("export_page", __name__)


@bp.get("/export")
def export_form() -> str:
    return render_template(
        "export.html",
        buoys=exportable_buoys(webcontext.connection()),
        quantities=[(q, q in DEFAULT_QUANTITIES) for q in EXPORTABLE.values()],
        flags=[(int(f), meaning, f in DEFAULT_FLAGS) for f, meaning in FLAG_MEANINGS.items()],
        formats=[(f.value, label) for f, label in FORMATS.items()],
    )
