"""Ranges at the edges: empty, one row, [start, end) bounds, time zones, and restarting a cut
download from the last time received."""

from __future__ import annotations

import io
from datetime import timedelta

import pandas as pd
from flask.testing import FlaskClient

from dashboard.export.columns import header
from dashboard.export.request import DEFAULT_QUANTITIES
from tests.export.conftest import Reef, use_settings

A = "/api/export?buoy=reef-a&quantity=water_temperature"


def times(client: FlaskClient, query: str) -> list[str]:
    response = client.get(query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return pd.read_csv(io.BytesIO(response.data))["time"].tolist()


def test_empty_range_is_200_with_the_header_only(client: FlaskClient, reef: Reef) -> None:
    response = client.get("/api/export?start=2020-01-01&end=2020-02-01")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == ",".join(header(DEFAULT_QUANTITIES)) + "\n"
    assert response.headers["X-Export-Rows"] == "0"
    assert pd.read_csv(io.BytesIO(response.data)).empty


def test_empty_json_export_is_an_empty_body(client: FlaskClient, reef: Reef) -> None:
    response = client.get("/api/export?start=2020-01-01&end=2020-02-01&format=json")
    assert response.status_code == 200
    assert response.data == b""


def test_start_is_inclusive_and_end_exclusive(client: FlaskClient, reef: Reef) -> None:
    t1, t2 = reef.times_a[1], reef.times_a[2]
    got = times(client, f"{A}&start={t1.isoformat()}&end={t2.isoformat()}")
    assert got == ["2026-05-28T00:10:00.000Z"]


def test_one_millisecond_range_holds_one_row(client: FlaskClient, reef: Reef) -> None:
    t = reef.times_a[3]
    end = t + timedelta(milliseconds=1)
    assert times(client, f"{A}&start={t.isoformat()}&end={end.isoformat()}") == [
        "2026-05-28T00:30:00.000Z"
    ]


def test_time_zone_in_the_query_is_converted_to_utc(client: FlaskClient, reef: Reef) -> None:
    # 10:10+10:00 is 00:10Z; the + must be sent percent-encoded, as in any URL
    got = times(client, f"{A}&start=2026-05-28T10:10:00%2B10:00&end=2026-05-28T10:20:00%2B10:00")
    assert got == ["2026-05-28T00:10:00.000Z"]


def test_unencoded_plus_in_a_zone_is_read_as_plus(client: FlaskClient, reef: Reef) -> None:
    got = times(client, f"{A}&start=2026-05-28T10:10:00+10:00&end=2026-05-28T10:20:00+10:00")
    assert got == ["2026-05-28T00:10:00.000Z"]


def test_time_without_zone_is_utc(client: FlaskClient, reef: Reef) -> None:
    assert times(client, f"{A}&start=2026-05-28T00:20:00&end=2026-05-28T00:30") == [
        "2026-05-28T00:20:00.000Z"
    ]


def test_z_suffix_is_accepted(client: FlaskClient, reef: Reef) -> None:
    assert times(client, f"{A}&start=2026-05-28T00:20:00Z&end=2026-05-28T00:30:00.000Z") == [
        "2026-05-28T00:20:00.000Z"
    ]


def test_restart_from_last_time_received_continues_exactly(client: FlaskClient, reef: Reef) -> None:
    """A download cut after its third row: drop the rows of the last time received (that
    time may be incomplete), ask again from that time, and the two parts make the whole."""
    use_settings(client.application, chunk_rows=2)
    query = "/api/export?buoy=reef-a,reef-b&quantity=water_temperature,ph"
    whole = client.get(query).get_data(as_text=True).splitlines()
    received = whole[:4]  # the header and three rows
    last = received[-1].split(",")[0]
    kept = [line for line in received if not line.startswith(last)]
    rest = client.get(f"{query}&start={last}").get_data(as_text=True).splitlines()
    assert kept + rest[1:] == whole


def test_rows_at_the_same_time_come_in_buoy_order(client: FlaskClient, reef: Reef) -> None:
    got = pd.read_csv(io.BytesIO(client.get("/api/export").data))
    keys = list(zip(got["time"], got["buoy_id"], strict=True))
    assert keys == sorted(keys)
