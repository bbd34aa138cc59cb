"""The web app: the overview page and /api/buoys show each buoy's latest values and ages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.display import age_text, unit_symbol
from dashboard.overview import LinkState, link_state
from dashboard.storage import store_batch, store_status
from nemopi.configfile import ConfigError
from nemopi.sensor_status import SensorStatus
from nemopi.wire import Batch, ClockSource, Sample, Value
from tests.dashboard.builders import NOW, sample, status


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@pytest.fixture
def reef(engine: Engine) -> Engine:
    """reef-a: online, readings 63 and 3 minutes old; reef-b: unsynced clock, no status."""
    a = Batch(
        "reef-a",
        (
            sample(1, ms(NOW - timedelta(minutes=63)), water_temperature=26.5, ph=8.1),
            sample(2, ms(NOW - timedelta(minutes=3)), water_temperature=27.125),
        ),
    )
    unsynced = Sample(
        5, 120_000, ClockSource.UNSYNCED, {"turbidity": Value(None, SensorStatus.UNREACHABLE)}
    )
    with engine.begin() as conn:
        store_batch(conn, a, NOW - timedelta(minutes=4))
        heard = NOW - timedelta(minutes=2)
        store_status(conn, status("reef-a", True, heard), heard, live=True)
        store_batch(conn, Batch("reef-b", (unsynced,)), NOW - timedelta(hours=5))
    return engine


@pytest.fixture
def app(reef: Engine, db_url: str) -> Iterator[Flask]:
    application = create_app({"database": {"url": db_url}}, clock=lambda: NOW)
    yield application
    webcontext.engine(application).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def section(html: str, buoy: str) -> str:
    found = re.search(rf'<section class="buoy" id="buoy-{buoy}">(.*?)</section>', html, re.S)
    assert found, f"no section for {buoy}"
    return found.group(1)


def rows(html: str) -> dict[str, str]:
    """quantity name -> the row's text with tags and extra spaces removed."""
    found = re.findall(r'<tr class="reading" data-quantity="(\w+)">(.*?)</tr>', html, re.S)
    return {name: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for name, body in found}


def test_overview_shows_each_buoy_with_latest_values_and_ages(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True).replace("&nbsp;", " ")
    a = section(html, "reef-a")
    assert "online" in a and "Last heard 2 min ago" in a
    assert rows(a) == {
        "ph": "pH (total scale) 8.100 1 h ago",
        "water_temperature": "Water temperature 27.125 °C 3 min ago",
    }
    b = section(html, "reef-b")
    assert "unknown" in b and "Last heard 5 h ago" in b
    assert rows(b) == {"turbidity": "Turbidity – NTU unreachable clock not set; received 5 h ago"}
    assert "All times are UTC" in html


def test_overview_is_mobile_ready_and_script_free(client: FlaskClient) -> None:
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<script" not in html
    assert "http://" not in html and "https://" not in html  # no CDN
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "@media" in css.get_data(as_text=True)
    css.close()


def test_api_buoys_matches_the_overview(client: FlaskClient) -> None:
    response = client.get("/api/buoys")
    assert response.headers["Content-Security-Policy"]
    data = response.get_json()
    assert data["generated_at"] == "2026-06-01T06:00:00Z"
    a, b = data["buoys"]
    assert (a["id"], a["state"], a["last_heard"]) == ("reef-a", "online", "2026-06-01T05:58:00Z")
    assert [
        (r["quantity"], r["value"], r["unit"], r["status"], r["age_s"]) for r in a["latest"]
    ] == [
        ("ph", 8.1, "1", "OK", 63 * 60),
        ("water_temperature", 27.125, "degree_Celsius", "OK", 3 * 60),
    ]
    assert a["latest"][1]["label"] == "Water temperature"
    assert a["latest"][1]["time"] == "2026-06-01T05:57:00Z"
    assert (b["id"], b["state"], b["status_as_of"]) == ("reef-b", "unknown", None)
    assert [
        (r["quantity"], r["value"], r["status"], r["clock"], r["time"]) for r in b["latest"]
    ] == [("turbidity", None, "UNREACHABLE", "UNSYNCED", None)]


@pytest.mark.parametrize("path", ["/", "/api/buoys"])
def test_public_pages_reject_writes(client: FlaskClient, path: str) -> None:
    assert client.post(path).status_code == 405
    assert client.delete(path).status_code == 405


def test_empty_database_says_no_buoy_has_reported(engine: Engine, db_url: str) -> None:
    app = create_app({"database": {"url": db_url}}, clock=lambda: NOW)
    try:
        html = app.test_client().get("/").get_data(as_text=True)
    finally:
        webcontext.engine(app).dispose()
    assert "No buoy has reported yet." in html


def test_create_app_validates_a_mapping_like_a_config_file() -> None:
    with pytest.raises(ConfigError, match="port"):
        create_app({"port": "eighty"})


def test_link_state_expires_an_old_online_status() -> None:
    assert link_state(True, NOW, NOW) is LinkState.ONLINE
    assert link_state(True, NOW - timedelta(seconds=1), NOW) is LinkState.OFFLINE
    assert link_state(False, None, NOW) is LinkState.OFFLINE
    assert link_state(None, None, NOW) is LinkState.UNKNOWN


def test_ages_and_units_read_naturally() -> None:
    assert age_text(NOW - timedelta(seconds=30), NOW) == "just now"
    assert age_text(NOW - timedelta(minutes=3, seconds=59), NOW) == "3 min ago"
    assert age_text(NOW - timedelta(hours=47), NOW) == "47 h ago"
    assert age_text(NOW - timedelta(days=3), NOW) == "3 days ago"
    assert age_text(NOW + timedelta(minutes=5), NOW) == "in the future (clock ahead?)"
    assert age_text(None, NOW) == "unknown"
    assert (unit_symbol("degree_Celsius"), unit_symbol("1"), unit_symbol("NTU")) == (
        "°C",
        "",
        "NTU",
    )
