"""The dive shops' pages: sign in with the shop's link, report today's visibility in one tap.

``/shop/<token>`` checks the link, puts the shop in the session cookie (signed, HttpOnly,
SameSite=Lax) and redirects to ``/report``. ``/report`` lists the reefs, each with the buoy's
estimate and a form whose buttons are typical visibilities: one tap posts one value. The form
carries a CSRF token (Flask-WTF's ``CSRFProtect``, installed app-wide) in a hidden field, as
the CSP forbids scripts that could add it. Every request looks the shop up again, so a revoked
link ends its sessions at once.

These are the only requests that write, and only through ``webcontext.writer``: signing in and
showing the form read through the app's read-only engine like every public page.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from dashboard import webcontext
from dashboard.shops import Shop, active_shop, shop_for_token
from dashboard.visibility import MAX_VISIBILITY_M, MIN_VISIBILITY_M
from dashboard.visibility_reports import (
    ReportableReef,
    Stored,
    conversion_for,
    recent_reports,
    reportable_reefs,
    store_report,
    turbidity_means,
)

log = logging.getLogger(__name__)

bp = Blueprint("reports", __name__)

SESSION_SHOP = "shop"
SESSION_DAYS = 180
CHOICES_M = (3, 5, 8, 10, 15, 20, 25, 30)
SIGN_IN_HELP = (
    "Reporting visibility needs your dive shop's own link. Ask whoever runs this dashboard "
    "for it (they create it with `nemopi shop add`) and open it once on this phone."
)


def init_app(app: Flask, secure_cookie: bool) -> None:
    """Register the pages and the session cookie's flags (``Secure`` when the dashboard is
    served over HTTPS). The app must install CSRFProtect."""
    app.config.update(
        SESSION_COOKIE_SECURE=secure_cookie,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=SESSION_DAYS),
        # The token lives in the signed session; a form left open on the pier all morning
        # must still post.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.register_blueprint(bp)
    app.register_error_handler(CSRFError, _csrf_refused)


@dataclass(frozen=True)
class ReportedToday:
    shop: str
    at: str  # local HH:MM
    visibility_m: float


@dataclass(frozen=True)
class ReefForm:
    """One reef on the report page: what the buoy says and what shops said today."""

    id: str
    name: str
    estimate_m: float | None
    conversion_source: str
    reported_today: tuple[ReportedToday, ...]
    earlier_hours: tuple[int, ...]  # local hours of today a report may be back-dated to


@bp.get("/shop/<token>")
def sign_in(token: str) -> Response | tuple[str, int]:
    shop = shop_for_token(webcontext.connection(), token)
    if shop is None:
        return _problem("This link does not work (any more). " + SIGN_IN_HELP, 403)
    session.clear()
    session[SESSION_SHOP] = shop.key
    session.permanent = True
    log.info("shop %r signed in", shop.name)
    return redirect(url_for("reports.report_form"), 303)


@bp.get("/report")
def report_form() -> str | tuple[str, int]:
    shop = _signed_in_shop()
    if shop is None:
        return _problem(SIGN_IN_HELP, 403)
    now = webcontext.now()
    conn = webcontext.connection()
    settings = webcontext.web_config().visibility
    window = timedelta(minutes=settings.pairing_window_min)
    forms = []
    for reef in reportable_reefs(conn):
        zone = _zone(reef)
        conversion = conversion_for(conn, reef.key, settings, now)
        mean = turbidity_means(conn, reef.key, [now], window)[0]
        today = recent_reports(conn, reef.key, _start_of_day(now, zone), conversion, window)
        forms.append(
            ReefForm(
                reef.id,
                reef.name,
                None if mean is None else conversion.visibility_m(mean),
                conversion.source,
                tuple(
                    ReportedToday(r.shop, f"{r.observed_at.astimezone(zone):%H:%M}", r.visibility_m)
                    for r in today
                ),
                _earlier_hours(now, zone),
            )
        )
    return render_template(
        "report.html",
        shop=shop,
        reefs=forms,
        choices=CHOICES_M,
        messages=get_flashed_messages(with_categories=True),
    )


@bp.post("/report")
def submit() -> Response | tuple[str, int]:
    shop = _signed_in_shop()
    if shop is None:
        return _problem(SIGN_IN_HELP, 403)
    reefs = {reef.id: reef for reef in reportable_reefs(webcontext.connection())}
    reef = reefs.get(request.form.get("reef", ""))
    if reef is None:
        return _problem("No such reef to report on.", 400)
    visibility_m = _visibility(request.form.get("visibility_m", ""))
    if visibility_m is None:
        return _problem(
            f"Visibility must be a number of metres from {MIN_VISIBILITY_M:g} to "
            f"{MAX_VISIBILITY_M:g}.",
            400,
        )
    now = webcontext.now()
    zone = _zone(reef)
    observed_at = _observed_at(request.form.get("hour", ""), now, zone)
    if observed_at is None:
        return _problem("The hour must be an earlier hour of today, or left at 'now'.", 400)
    with webcontext.writer(current_app).begin() as conn:
        stored = store_report(conn, shop.key, reef.key, visibility_m, observed_at, now)
    if stored is Stored.REVOKED:
        session.clear()
        return _problem("This shop's link was revoked. " + SIGN_IN_HELP, 403)
    at = f"{observed_at.astimezone(zone):%H:%M}"
    if stored is Stored.REPEATED:
        flash(
            f"{reef.name}: you reported a few minutes ago; nothing was changed. One report per "
            "reef every 10 minutes.",
            "repeated",
        )
    else:
        log.info("%s reported %g m at %s", shop.name, visibility_m, reef.id)
        flash(f"Thank you: {visibility_m:g} m at {reef.name}, {at}.", "stored")
    return redirect(url_for("reports.report_form"), 303)


def _signed_in_shop() -> Shop | None:
    key = session.get(SESSION_SHOP)
    if not isinstance(key, int):
        return None
    return active_shop(webcontext.connection(), key)


def _visibility(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or not MIN_VISIBILITY_M <= value <= MAX_VISIBILITY_M:
        return None
    return value


def _observed_at(hour: str, now: datetime, zone: tzinfo) -> datetime | None:
    """Now, or the middle of an earlier hour of the reef's local today."""
    if hour == "":
        return now
    if not hour.isdigit() or int(hour) not in _earlier_hours(now, zone):
        return None
    return _local_half_past(now, zone, int(hour))


def _earlier_hours(now: datetime, zone: tzinfo) -> tuple[int, ...]:
    """Today's local hours whose middle has passed, newest first."""
    return tuple(h for h in range(23, -1, -1) if _local_half_past(now, zone, h) <= now)


def _local_half_past(now: datetime, zone: tzinfo, hour: int) -> datetime:
    today = now.astimezone(zone).date()
    return datetime.combine(today, time(hour, 30), tzinfo=zone)


def _start_of_day(now: datetime, zone: tzinfo) -> datetime:
    return datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)


def _zone(reef: ReportableReef) -> tzinfo:
    try:
        return ZoneInfo(reef.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _problem(message: str, status: int) -> tuple[str, int]:
    return render_template("report_problem.html", message=message), status


def _csrf_refused(error: CSRFError) -> tuple[str, int]:
    log.info("a form was refused: %s", error.description)
    return _problem(
        "This form has expired or did not come from this site. Open the report page again "
        "and tap once more.",
        400,
    )
