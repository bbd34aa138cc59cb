"""The query API's own endpoints: what can be exported, and an export's size before it starts."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard.export.blueprint import ROWS_HEADER
from tests.export.conftest import MOORING_B, Reef, use_settings

RANGE = "buoy=reef-a,reef-b&start=2026-05-28T00:00:00Z&end=2026-05-28T00:30:00Z"


def test_the_estimate_counts_the_rows_the_export_sends(client: FlaskClient) -> None:
    estimate = client.get(f"/api/export/estimate?{RANGE}").get_json()
    export = client.get(f"/api/export?{RANGE}")
    assert estimate["over_limit"] is False
    assert estimate["rows"] == int(export.headers[ROWS_HEADER]) == 6


@pytest.mark.parametrize("format", ["csv", "json"])
def test_the_estimated_size_is_close_to_the_download(client: FlaskClient, format: str) -> None:
    estimate = client.get(f"/api/export/estimate?{RANGE}&format={format}").get_json()
    body = client.get(f"/api/export?{RANGE}&format={format}").get_data()
    assert estimate["bytes"][format] == pytest.approx(len(body), rel=0.1)


def test_an_empty_range_is_estimated_as_nothing(client: FlaskClient) -> None:
    estimate = client.get(
        "/api/export/estimate?start=2020-01-01T00:00:00Z&end=2020-01-02T00:00:00Z"
    ).get_json()
    assert estimate["rows"] == 0
    assert estimate["bytes"]["json"] == 0
    assert 0 < estimate["bytes"]["csv"] < 2000  # the header


def test_the_download_link_repeats_the_request(client: FlaskClient) -> None:
    estimate = client.get(f"/api/export/estimate?{RANGE}&format=json").get_json()
    again = client.get(estimate["download"])
    assert again.status_code == 200
    assert again.mimetype == "application/x-ndjson"
    assert int(again.headers[ROWS_HEADER]) == estimate["rows"]


def test_over_the_limit_the_estimate_says_how_to_split(app: Flask, client: FlaskClient) -> None:
    use_settings(app, max_rows=3)
    estimate = client.get(f"/api/export/estimate?{RANGE}")
    assert estimate.status_code == 200
    body = estimate.get_json()
    assert body["over_limit"] is True
    assert body["rows"] is None and body["download"] is None
    assert "split the time range" in body["message"]
    assert client.get(f"/api/export?{RANGE}").get_json()["message"] == body["message"]


def test_a_bad_parameter_of_an_estimate_is_named(client: FlaskClient) -> None:
    response = client.get("/api/export/estimate?buoy=reef-a&strat=2026-01-01")
    assert response.status_code == 400
    assert response.get_json()["parameter"] == "strat"


def test_the_quantities_carry_units_cf_names_and_columns(client: FlaskClient) -> None:
    found = {q["name"]: q for q in client.get("/api/quantities").get_json()["quantities"]}
    water = found["water_temperature"]
    assert water["unit"] == "degree_Celsius"
    assert water["cf_standard_name"] == "sea_water_temperature"
    assert water["columns"]["value"] == "water_temperature_degree_Celsius"
    assert found["ph"]["columns"] == {"value": "ph", "qc": "ph_qc", "status": "ph_status"}
    assert found["latitude"]["exported_by_default"] is False


def test_the_export_buoys_give_metadata_and_time_range(client: FlaskClient, reef: Reef) -> None:
    found = {b["id"]: b for b in client.get("/api/export/buoys").get_json()["buoys"]}
    assert set(found) == {"reef-a", "reef-b"}
    assert found["reef-a"]["first_time"] == "2026-05-28T00:00:00.000Z"
    assert found["reef-a"]["last_time"] == "2026-05-28T00:30:00.000Z"
    assert found["reef-a"]["mooring"] is None
    b = found["reef-b"]
    assert (b["mooring"]["latitude"], b["mooring"]["longitude"]) == MOORING_B
    assert b["first_time"] == "2026-05-28T00:05:00.000Z"  # the unsynced sample has no time
