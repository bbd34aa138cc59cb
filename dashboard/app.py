"""The web application factory: ``create_app(config)`` builds a Flask app from a WebConfig.

One blueprint for the public pages, one for the JSON API. Every response forbids scripts that
are not served from the app itself (no inline scripts), framing and sniffing, and images from
anywhere but the app and the configured map tile server. Text responses go out gzipped: a
phone on a slow link pays for every byte. Whoever creates the app disposes of its engine when
done: ``dashboard.webcontext.engine(app).dispose()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request
from flask_compress import Compress
from flask_wtf.csrf import CSRFProtect

from dashboard import api, pages, report_pages, webcontext
from dashboard.config import WebConfig
from dashboard.export import blueprint as export_blueprint
from nemopi.configfile import from_mapping

COMPRESSED_TYPES = [
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
]
SECURITY_HEADERS = {
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
    app.config.update(
        SECRET_KEY=config.secret_key(),
        COMPRESS_MIMETYPES=COMPRESSED_TYPES,
        COMPRESS_ALGORITHM=["gzip"],
    )
    webcontext.init_app(app, config, clock)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    export_blueprint.init_app(app, config.export)
    CSRFProtect(app)  # every POST carries a token: the shops' report form
    report_pages.init_app(app, config.secure_cookie)
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": content_security_policy(config)}
    app.after_request(lambda response: _add_headers(response, headers))
    Compress(app)
    app.after_request(_buffer_text_files)  # runs before Compress's: the last added runs first
    return app


def content_security_policy(config: WebConfig) -> str:
    """Scripts, styles and images from the app only, images also from the tile server."""
    images = " ".join(filter(None, ("'self'", config.map.tile_origin())))
    return (
        f"default-src 'none'; script-src 'self'; style-src 'self'; img-src {images}; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _buffer_text_files(response: Response) -> Response:
    """Read a static CSS or JS file into memory so that it is gzipped like any response:
    Compress gzips no stream, and loses the file's close() when it compresses one. The app's
    own files are a few kilobytes each; other streams (exports) are left alone."""
    if request.endpoint == "static" and response.mimetype in COMPRESSED_TYPES:
        response.direct_passthrough = False
        response.make_sequence()  # closes the file when the response closes
    return response


def _add_headers(response: Response, headers: Mapping[str, str]) -> Response:
    response.headers.update(headers)
    return response
