"""The JSON API the live pages poll: shapes, order, ETag and 304, series and their errors.

The scene is ``tests.dashboard.test_reefs.reefs`` (four reefs at 14:00 in Makassar).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.models import buoys, rollups, shops, visibility_reports
from nemopi.catalogue import by_name
from tests.dashboard.builders import NOW
from tests.dashboard.test_reefs import minutes_ago, reefs, store_reading

__all__ = ["reefs"]  # the scene, used as a fixture here


@pytest.fixture
def app(reefs: Engine, db_url: str) -> Iterator[Flask]:
    settings = {
        "database": {"url": db_url},
        "poll_s": 15,
        "heat_stress": {"sites": [{"buoy": "house-reef", "mmm_c": 28.0}]},
    }
    application = create_app(settings, clock=lambda: NOW)
    yield application
    webcontext.engine(application).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def get_json(client: FlaskClient, path: str, status: int = 200) -> Any:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def buoy_key(engine: Engine, buoy: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(buoys.c.key).where(buoys.c.id == buoy)).scalar_one())


def test_overview_json_has_every_reef_in_verdict_order(client: FlaskClient) -> None:
    data = get_json(client, "/api/overview")
    assert (data["generated_at"], data["poll_s"]) == ("2026-06-01T06:00:00Z", 15)
    assert data["ingest"] == {
        "state": "never",
        "last_beat": None,
        "last_stored": None,
        "text": "No data feed has ever run here: readings below are not live",
    }
    assert [(r["id"], r["verdict"]["level"]) for r in data["reefs"]] == [
        ("house-reef", "go"),
        ("drift-point", "caution"),
        ("the-channel", "no-go"),
        ("murky-bay", "unknown"),
    ]


def test_a_reef_in_the_overview_json(client: FlaskClient) -> None:
    channel = get_json(client, "/api/overview")["reefs"][2]
    assert {k: channel[k] for k in ("id", "name", "url", "timezone", "utc_offset")} == {
        "id": "the-channel",
        "name": "The Channel",
        "url": "/reefs/the-channel",
        "timezone": "Asia/Makassar",
        "utc_offset": "+08:00",
    }
    assert channel["position"] == {"latitude": -8.5, "longitude": 115.5, "moored": True}
    verdict = channel["verdict"]
    assert (verdict["word"], verdict["shape"], verdict["colour"]) == ("No-go", "octagon", "red")
    assert verdict["reasons"][0] == {
        "quantity": "current_speed",
        "level": "no-go",
        "value": 1.2,
        "unit": "m/s",
        "threshold": 1.0,
        "time": "2026-06-01T05:40:00Z",
        "age_s": 1200,
        "age_text": "20 min ago",
        "suspect": False,
        "text": "Current 1.2 m/s (maximum 1 m/s): no-go",
    }
    assert channel["link"] == {
        "state": "sleeping",
        "last_heard": "2026-06-01T05:40:00Z",
        "next_report": "2026-06-01T06:40:00Z",
        "text": "Sleeping to save power; next report expected at 14:40 (UTC+8)",
    }
    assert channel["heat_stress"] is None
    temperature = channel["key_values"][2]
    assert temperature == {
        "quantity": "water_temperature",
        "label": "Water temperature",
        "value": 28.0,
        "unit": "°C",
        "decimals": 3,
        "text": "28.000",
        "time": "2026-06-01T05:40:00Z",
        "age_s": 1200,
        "age_text": "20 min ago",
        "qc": "not evaluated",
        "status": "OK",
    }


def test_overview_answers_304_until_something_changes(reefs: Engine, client: FlaskClient) -> None:
    first = client.get("/api/overview")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    again = client.get("/api/overview", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    with reefs.begin() as conn:
        store_reading(conn, "the-channel", 8, minutes_ago(1), current_speed=0.4)
    changed = client.get("/api/overview", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    channel = next(r for r in changed.get_json()["reefs"] if r["id"] == "the-channel")
    assert channel["verdict"]["level"] == "go"


def test_the_etag_ignores_the_passing_of_time_alone(reefs: Engine, db_url: str) -> None:
    """A minute later every age differs ("20 min ago" is "21 min ago") but nothing else, on a
    stale reef too."""
    with reefs.begin() as conn:
        store_reading(conn, "old-wreck", 1, minutes_ago(200), water_temperature=28.0)
    times = iter([NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=1)])
    app = create_app({"database": {"url": db_url}}, clock=lambda: next(times))
    try:
        client = app.test_client()
        first = client.get("/api/overview")
        later = client.get("/api/overview")
        second = client.get("/api/overview", headers={"If-None-Match": first.headers["ETag"]})
    finally:
        webcontext.engine(app).dispose()
    ages = [
        [v["age_text"] for r in response.get_json()["reefs"] for v in r["key_values"]]
        for response in (first, later)
    ]
    assert "20 min ago" in ages[0] and "21 min ago" in ages[1]
    wreck = next(r for r in later.get_json()["reefs"] if r["id"] == "old-wreck")
    assert "Water temperature: last reading older than 2 h: unknown" in [
        reason["text"] for reason in wreck["verdict"]["reasons"]
    ]
    assert second.status_code == 304


def test_304_also_when_gzipped(client: FlaskClient) -> None:
    gz = {"Accept-Encoding": "gzip"}
    first = client.get("/api/overview", headers=gz)
    assert first.headers["Content-Encoding"] == "gzip"
    again = client.get("/api/overview", headers={**gz, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_reef_json_has_latest_visibility_heat_stress_days_and_charts(client: FlaskClient) -> None:
    house = get_json(client, "/api/reefs/house-reef")
    assert house["id"] == "house-reef" and house["verdict"]["level"] == "go"
    assert [v["quantity"] for v in house["latest"]] == [
        "water_temperature",
        "turbidity",
        "visibility",
        "current_speed",
    ]
    visibility = house["visibility"]
    assert visibility["estimate_m"] == pytest.approx(4.8 / 0.28)
    assert visibility["conversion"]["source"] == "default"
    assert visibility["conversion"]["reports_used"] == 0
    assert visibility["reports"] == []
    days = house["heat_stress_days"]
    assert len(days) == 84 and days[-1]["day"] == "2026-06-01"
    assert days[0] == {"day": "2026-03-10", "mean_c": None, "hours": 0, "hotspot_c": None}
    assert house["heat_stress"]["missing_days"] == 84 and house["heat_stress"]["lower_bound"]
    assert house["charts"][2] == {
        "quantity": "visibility",
        "label": "Visibility (estimated from turbidity)",
        "series": "/api/reefs/house-reef/series?quantity=visibility",
    }
    second = client.get("/api/reefs/house-reef", headers={"If-None-Match": "x"})
    assert second.status_code == 200
    third = client.get("/api/reefs/house-reef", headers={"If-None-Match": second.headers["ETag"]})
    assert third.status_code == 304


def test_reef_json_shows_shops_reports_beside_the_estimate(
    reefs: Engine, client: FlaskClient
) -> None:
    with reefs.begin() as conn:
        shop = conn.execute(
            shops.insert()
            .values(name="Blue Lagoon Divers", token_sha256="0" * 64, created_at=NOW)
            .returning(shops.c.key)
        ).scalar_one()
        conn.execute(
            visibility_reports.insert().values(
                buoy_key=buoy_key(reefs, "house-reef"),
                shop_key=shop,
                observed_at=minutes_ago(30),
                received_at=minutes_ago(25),
                visibility_m=15.0,
            )
        )
    (report,) = get_json(client, "/api/reefs/house-reef")["visibility"]["reports"]
    assert report["shop"] == "Blue Lagoon Divers"
    assert (report["observed_at"], report["observed_text"]) == (
        "2026-06-01T05:30:00Z",
        "13:30 (UTC+8)",
    )
    assert report["visibility_m"] == 15.0


def test_unknown_reef_is_a_404_json(client: FlaskClient) -> None:
    missing = {"error": "not_found", "message": "no reef 'atlantis'"}
    assert get_json(client, "/api/reefs/atlantis", 404) == missing
    path = "/api/reefs/atlantis/series?quantity=ph&window=24h"
    assert get_json(client, path, 404) == missing


def turbidity_buckets(engine: Engine, values: dict[int, tuple[float, float, float]]) -> None:
    """10-minute turbidity roll-ups: bucket index before NOW -> (min, mean, max), n = 2."""
    key = buoy_key(engine, "house-reef")
    rows = [
        {
            "buoy_key": key,
            "quantity": by_name("turbidity").code,
            "period_s": 600,
            "bucket_start": NOW - timedelta(minutes=10 * back),
            "n": 2,
            "n_suspect": 1 if back == 1 else 0,
            "n_bad": 1 if back == 2 else 0,
            "value_sum": 2 * mean,
            "value_min": low,
            "value_max": high,
        }
        for back, (low, mean, high) in values.items()
    ]
    with engine.begin() as conn:
        conn.execute(rollups.insert(), rows)


def test_series_gives_dense_buckets_with_gaps_as_nulls(reefs: Engine, client: FlaskClient) -> None:
    turbidity_buckets(reefs, {0: (0.1, 0.2, 0.3), 1: (0.2, 0.4, 0.6), 2: (1.0, 1.0, 1.0)})
    data = get_json(client, "/api/reefs/house-reef/series?quantity=turbidity&window=24h")
    assert (data["quantity"], data["unit"], data["decimals"]) == ("turbidity", "NTU", 2)
    assert (data["window"], data["period_s"]) == ("24h", 600)
    assert (data["start"], data["end"]) == ("2026-05-31T06:10:00Z", "2026-06-01T06:10:00Z")
    assert len(data["t"]) == 144 and data["t"][-1] == int(NOW.timestamp())
    assert data["mean"][-4:] == [None, 1.0, 0.4, 0.2]  # the 4th bucket from the end is a gap
    assert data["min"][-1] == 0.1 and data["max"][-1] == 0.3
    assert (data["n"][-3:], data["suspect"][-3:], data["bad"][-3:]) == (
        [2, 2, 2],
        [0, 1, 0],
        [1, 0, 0],
    )


def test_visibility_series_is_derived_from_turbidity(reefs: Engine, client: FlaskClient) -> None:
    turbidity_buckets(reefs, {0: (0.1, 0.2, 0.3)})
    data = get_json(client, "/api/reefs/house-reef/series?quantity=visibility&window=24h")
    assert (data["quantity"], data["unit"]) == ("visibility", "m")
    assert data["mean"][-1] == pytest.approx(4.8 / (0.08 + 0.2))
    assert data["min"][-1] == pytest.approx(4.8 / (0.08 + 0.3))  # from the most turbid value
    assert data["max"][-1] == pytest.approx(4.8 / (0.08 + 0.1))
    assert data["mean"][-2] is None


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("quantity=unobtainium&window=24h", "quantity"),
        ("window=24h", "quantity"),
        ("quantity=latitude&window=24h", "quantity"),  # shown on the map, not charted
        ("quantity=pco2&window=24h", "quantity"),  # derived, not computed here
        ("quantity=ph&window=2d", "window"),
        ("quantity=ph&window=", "window"),
    ],
)
def test_bad_series_parameters_are_a_400_naming_the_parameter(
    client: FlaskClient, query: str, parameter: str
) -> None:
    data = get_json(client, f"/api/reefs/house-reef/series?{query}", 400)
    assert data["error"] == "bad_parameter"
    assert data["parameter"] == parameter and parameter in data["message"]


def test_api_buoys_still_lists_raw_latest_readings(client: FlaskClient) -> None:
    data = get_json(client, "/api/buoys")
    assert [b["id"] for b in data["buoys"]] == [
        "drift-point",
        "house-reef",
        "murky-bay",
        "the-channel",
    ]
    channel = data["buoys"][3]
    assert (channel["state"], channel["next_report"]) == ("sleeping", "2026-06-01T06:40:00Z")
    assert [r["quantity"] for r in channel["latest"]] == [
        "water_temperature",
        "turbidity",
        "current_speed",
    ]  # measured only: visibility is the reef API's
    assert channel["latest"][0] == {
        "quantity": "water_temperature",
        "label": "Water temperature",
        "unit": "degree_Celsius",
        "value": 28.0,
        "status": "OK",
        "seq": 7,
        "clock": "GPS",
        "time": "2026-06-01T05:40:00Z",
        "age_s": 1200,
        "received_at": "2026-06-01T05:40:00Z",
    }
