"""Per-client rate limits: exports at ``rate_limit``, estimates at ``estimate_rate_limit``,
the live pages never. Over a limit: a 429 in the API's error form, with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import webcontext
from dashboard.app import create_app
from nemopi.configfile import ConfigError
from tests.dashboard.builders import NOW
from tests.export.conftest import Reef

EXPORT = "/api/export?buoy=reef-a"
ESTIMATE = "/api/export/estimate?buoy=reef-a"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url  # counting requests needs no second database


@pytest.fixture
def limited_app(reef: Reef, db_url: str) -> Iterator[Flask]:
    config = {"database": {"url": db_url}, "export": {"estimate_rate_limit": "12 per minute"}}
    application = create_app(config, clock=lambda: NOW)
    yield application
    webcontext.dispose(application)


def client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def export_status(client: FlaskClient) -> int:
    """Ask for an export and close the response, as a server does with every response (an
    open download holds one of the server's few export slots)."""
    with client.get(EXPORT) as response:
        return response.status_code


def test_the_eleventh_export_in_a_minute_is_refused_with_retry_after(limited_app: Flask) -> None:
    client = client_at(limited_app, "192.0.2.1")
    assert [export_status(client) for _ in range(10)] == [200] * 10
    refused = client.get(EXPORT)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = refused.get_json()
    assert body["error"] == "too_many_requests"
    assert f"retry in {refused.headers['Retry-After']} s" in body["message"]


def test_another_client_still_exports(limited_app: Flask) -> None:
    greedy = client_at(limited_app, "192.0.2.1")
    for _ in range(11):
        export_status(greedy)
    assert export_status(greedy) == 429
    assert export_status(client_at(limited_app, "192.0.2.2")) == 200


def test_estimates_and_exports_are_counted_apart(limited_app: Flask) -> None:
    client = client_at(limited_app, "192.0.2.1")
    for _ in range(11):
        export_status(client)
    estimates = [client.get(ESTIMATE).status_code for _ in range(13)]
    assert estimates == [200] * 12 + [429]


def test_the_live_pages_are_never_limited(limited_app: Flask) -> None:
    client = client_at(limited_app, "192.0.2.1")
    for _ in range(11):
        export_status(client)
    live = ["/api/overview", "/api/buoys", "/api/quantities", "/api/export/buoys", "/"]
    assert {client.get(url).status_code for url in live * 20} == {200}


def test_a_rate_limit_that_cannot_be_read_is_a_configuration_error(db_url: str) -> None:
    with pytest.raises(ConfigError, match="rate_limit"):
        create_app({"database": {"url": db_url}, "export": {"rate_limit": "ten a minute"}})
