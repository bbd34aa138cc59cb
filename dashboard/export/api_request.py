"""What every endpoint of the query API does with a request: find the app's export settings,
read the export parameters, and answer errors in one JSON form.

The form is ``{"error": <code>, "message": <what to do>}``, with ``parameter`` naming the bad
query parameter of a 400; the OpenAPI document (``/api/openapi.json``) calls it ``Error``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from dashboard.export.request import ExportRequest, RequestError, parse_request
from dashboard.export.settings import ExportSettings

SETTINGS = "nemopi.export"


def settings_of(app: Flask) -> ExportSettings:
    """The export settings ``app`` was created with."""
    found: ExportSettings = app.extensions[SETTINGS]
    return found


def asked_for(settings: ExportSettings) -> ExportRequest:
    """The current request's export parameters; raises ``RequestError``."""
    return parse_request(request.args.to_dict(flat=False), settings.max_buoys)


def api_error(status: int, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def bad_parameter(exc: RequestError) -> Response:
    return api_error(400, error="bad_parameter", parameter=exc.parameter, message=exc.message)
