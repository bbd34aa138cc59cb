"""The public pages: read-only, GET only, complete without JavaScript.

Each page is rendered from the same view the JSON API sends (``dashboard.api``), so a phone
without JavaScript reads the verdict in the same words the live updates later write. The page
scripts only poll and redraw; a page without them reloads itself now and then (``<noscript>``).
"""

from __future__ import annotations

from flask import Blueprint, render_template

from dashboard import webcontext
from dashboard.api import overview_view, page_zone, reef_detail_view, reef_settings
from dashboard.config import NOSCRIPT_MIN_REFRESH_S
from dashboard.display import local_time_text, offset_label
from dashboard.reefs import load_reefs

bp = Blueprint("pages", __name__)


@bp.get("/")
def overview() -> str:
    config = webcontext.web_config()
    now = webcontext.now()
    conn = webcontext.connection()
    reefs = load_reefs(conn, reef_settings(), now)
    return render_template(
        "overview.html",
        view=overview_view(conn, config, reefs, now),
        map=config.map,
        poll_s=config.poll_s,
        refresh_s=max(config.poll_s, NOSCRIPT_MIN_REFRESH_S),
        mixed_zones=len({r.timezone_name for r in reefs}) > 1,
        generated=local_time_text(now, page_zone(reefs), now),
    )


@bp.get("/reefs/<reef_id>")
def reef(reef_id: str) -> tuple[str, int] | str:
    config = webcontext.web_config()
    now = webcontext.now()
    conn = webcontext.connection()
    found = load_reefs(conn, reef_settings(), now, reef_id)
    if not found:
        return render_template("not_found.html", reef_id=reef_id), 404
    view = reef_detail_view(conn, found[0], now)
    return render_template(
        "reef.html",
        reef=view,
        poll_s=config.poll_s,
        refresh_s=max(config.poll_s, NOSCRIPT_MIN_REFRESH_S),
        offset=offset_label(found[0].timezone, now),
        generated=local_time_text(now, found[0].timezone, now),
    )


@bp.get("/favicon.ico")
def favicon() -> tuple[str, int]:
    """No icon, and no 404 in the browser's console for the one it asks for unprompted."""
    return "", 204
