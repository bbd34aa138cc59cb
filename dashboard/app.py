"""The web application factory: ``create_app(config)`` builds a Flask app from a WebConfig.

One blueprint for the public pages, one for the JSON API. Every response forbids scripts that
are not served from the app itself (no inline scripts), framing and sniffing. Whoever creates
the app disposes of its engine when done: ``dashboard.webcontext.engine(app).dispose()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from dashboard import api, display, pages, webcontext
from dashboard.config import WebConfig
from nemopi.configfile import from_mapping

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(
    config: WebConfig | Mapping[str, Any], *, clock: webcontext.Clock | None = None
) -> Flask:
    """``config`` is a WebConfig or the same settings as a mapping (validated alike)."""
    if not isinstance(config, WebConfig):
        config = from_mapping(dict(config), WebConfig, "create_app() configuration")
    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret_key())
    app.jinja_env.filters.update(
        unit=display.unit_symbol, value=display.value_text, utc=display.utc_text
    )
    app.jinja_env.globals["age"] = display.age_text
    webcontext.init_app(app, config.database.url, clock)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.after_request(_security_headers)
    return app


def _security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
