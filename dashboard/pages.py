"""The public pages: read-only, GET only, no scripts."""

from __future__ import annotations

from flask import Blueprint, render_template

from dashboard import webcontext
from dashboard.overview import load_overview

bp = Blueprint("pages", __name__)


@bp.get("/")
def overview() -> str:
    now = webcontext.now()
    return render_template(
        "overview.html", buoys=load_overview(webcontext.connection(), now), now=now
    )
