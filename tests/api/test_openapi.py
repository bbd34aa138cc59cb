"""The OpenAPI document is the whole ``/api`` and the running app keeps to it.

schemathesis generates requests from the document (valid and invalid parameters alike) and
sends them to the app over WSGI, on a SQLite database holding two buoys: no answer may be a
5xx, every status code must be one the document lists, and every body and header must match
its schema. The export's limits are set so that the 413 is reachable and the 429 is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.export.query_api import openapi_document
from tests.dashboard.builders import NOW
from tests.export.conftest import Reef

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
PLAIN = {"Accept-Encoding": "identity"}  # over WSGI nobody would unzip a gzipped answer
EXAMPLES = 150  # per generation mode, spread over every operation
_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def fuzzed_app(reef: Reef, db_url: str) -> Iterator[Flask]:
    config = {
        "database": {"url": db_url},
        "export": {
            "max_rows": 5,  # fewer than the reef holds, so that a plain export is a 413
            "rate_limit": "100000 per minute",
            "estimate_rate_limit": "100000 per minute",
        },
    }
    application = create_app(config, clock=lambda: NOW)
    yield application
    webcontext.dispose(application)


@pytest.fixture
def api_schema(fuzzed_app: Flask) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzzed_app)


def api_routes(app: Flask) -> set[str]:
    """The app's ``/api`` routes, written as OpenAPI paths."""
    return {
        _CONVERTER.sub(r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
    }


def test_the_spec_and_the_app_have_the_same_api_routes(app: Flask) -> None:
    assert api_routes(app) == set(openapi_document()["paths"])


def test_the_spec_is_served_as_openapi_3_1(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.1")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_app_keeps_to_its_spec(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode, data: st.DataObject
) -> None:
    case = data.draw(api_schema.as_strategy(mode))
    case.call_and_validate(checks=CHECKS, headers=PLAIN)
