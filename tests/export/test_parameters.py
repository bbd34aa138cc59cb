"""Hostile and mistaken query strings: a 400 that names the parameter, a 413 that says how to
split, and never a 500, whatever the query string."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.db import make_engine, upgrade_database
from dashboard.export.request import PARAMETERS
from dashboard.storage import store_batch
from tests.dashboard.builders import NOW, batch
from tests.export.conftest import Reef, use_settings


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("strat=2026-01-01", "strat"),
        ("start=yesterday", "start"),
        ("end=2026-13-01", "end"),
        ("start=2026-05-02&end=2026-05-01", "end"),
        ("start=2026-05-01&end=2026-05-01", "end"),
        ("start=1066-10-14", "start"),
        ("end=9999-12-31T23:59:59-23:59", "end"),
        ("start=2026-01-01&start=2026-02-01", "start"),
        ("buoy=no such buoy", "buoy"),
        ("buoy=reef-a,", "buoy"),
        ("buoy=reef-z", "buoy"),
        ("quantity=temperature", "quantity"),
        ("quantity=visibility", "quantity"),
        ("flags=5", "flags"),
        ("flags=good", "flags"),
        ("format=xlsx", "format"),
        ("format=csv&format=json", "format"),
        ("quantity=" + "ph," * 1000, "quantity"),
    ],
)
def test_bad_parameter_is_400_naming_it(
    client: FlaskClient, reef: Reef, query: str, parameter: str
) -> None:
    response = client.get(f"/api/export?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "bad_parameter"
    assert body["parameter"] == parameter
    assert body["message"]


def test_blank_start_and_end_of_a_plain_form_mean_unbounded(
    client: FlaskClient, reef: Reef
) -> None:
    blank = client.get("/api/export?buoy=reef-a&start=&end=+&format=csv")
    assert blank.status_code == 200
    assert blank.headers["X-Export-Rows"] == "4"  # every sample of reef-a


def test_too_many_buoys_is_refused(client: FlaskClient, reef: Reef) -> None:
    use_settings(client.application, max_buoys=1)
    body = client.get("/api/export?buoy=reef-a,reef-b").get_json()
    assert body["parameter"] == "buoy"
    assert "at most 1 buoys" in body["message"]


def test_too_many_rows_is_413_saying_how_to_split(client: FlaskClient, reef: Reef) -> None:
    use_settings(client.application, max_rows=6)
    response = client.get("/api/export")
    assert response.status_code == 413
    body = response.get_json()
    assert body["error"] == "too_many_rows"
    assert "at most 6 per request" in body["message"]
    assert "split" in body["message"]
    assert client.get("/api/export?buoy=reef-a").status_code == 200  # 4 rows fit


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app for every hypothesis example, on a SQLite database holding reef-a's samples."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'nemopi.sqlite3'}"
    upgrade_database(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        store_batch(conn, batch("reef-a", range(1, 50)), NOW)
    engine.dispose()
    unlimited = {"rate_limit": "1000000 per minute"}  # every example is another export
    application = create_app({"database": {"url": url}, "export": unlimited})
    yield application
    webcontext.dispose(application)


TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
VALUE = st.one_of(
    TEXT,
    st.sampled_from(["all", "reef-a", "2026-05-01", "2026-05-01T00:00:00+14:00", "1,2,9"]),
    st.datetimes().map(lambda d: d.isoformat()),
    st.integers().map(str),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.one_of(st.sampled_from(PARAMETERS), TEXT), VALUE), max_size=6))
def test_no_query_string_gives_a_server_error(
    hostile_app: Flask, pairs: list[tuple[str, str]]
) -> None:
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    response = hostile_app.test_client().get(f"/api/export?{query}")
    body = response.get_data()  # a streamed body is generated here, to the end
    assert response.status_code in (200, 400, 413), body[:500]
    if response.status_code != 200:
        assert response.get_json()["message"]
    response.close()
