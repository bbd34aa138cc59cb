"""A researcher's round trip: what was stored comes back exactly, with the right types, from a
plain pandas.read_csv, from JSON Lines, and from the NetCDF file."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from flask.testing import FlaskClient

from dashboard.export.blueprint import ROWS_HEADER
from tests.export.conftest import MOORING_B, Reef, gps_a, ph_a, use_settings, water_a

TEMPERATURE = "water_temperature_degree_Celsius"
QUERY = "/api/export?buoy=reef-a,reef-b&quantity=water_temperature,ph"


def expected_rows(reef: Reef) -> list[dict[str, object]]:
    """The default export (flags 1, 2, 3) of the reef, in (time, buoy) order."""
    nan = float("nan")
    a = [
        {
            "time": t,
            "buoy_id": "reef-a",
            "seq": i + 1,
            "latitude": gps_a(i)[0],
            "longitude": gps_a(i)[1],
            "position_source": "gps",
            TEMPERATURE: nan if i == 1 else water_a(i),  # FAIL is not kept by default
            "water_temperature_qc": [1, 4, 2, 2][i],
            "water_temperature_status": "OK",
            "ph": nan if i == 2 else ph_a(i),
            "ph_qc": 9 if i == 2 else 2,
            "ph_status": "UNREACHABLE" if i == 2 else "OK",
        }
        for i, t in enumerate(reef.times_a)
    ]
    b = [
        {
            "time": t,
            "buoy_id": "reef-b",
            "seq": 10 + i,
            "latitude": MOORING_B[0],
            "longitude": MOORING_B[1],
            "position_source": "mooring",
            TEMPERATURE: 27.5 + i,
            "water_temperature_qc": 2,
            "water_temperature_status": "WARMING_UP" if i == 1 else "OK",
            "ph": nan,
            "ph_qc": 9,
            "ph_status": nan,
        }
        for i, t in enumerate(reef.times_b)
    ]
    return sorted(a + b, key=lambda row: row["time"])  # type: ignore[arg-type, return-value]


def as_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def test_csv_loads_with_plain_read_csv_with_exact_values_flags_and_positions(
    client: FlaskClient, reef: Reef
) -> None:
    response = client.get(QUERY)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers[ROWS_HEADER] == "7"
    frame = pd.read_csv(io.BytesIO(response.data))
    assert frame[TEMPERATURE].dtype == "float64"
    assert frame["ph"].dtype == "float64"
    assert frame["latitude"].dtype == "float64"
    assert frame["water_temperature_qc"].dtype == "int64"
    assert frame["ph_qc"].dtype == "int64"
    times = pd.to_datetime(frame["time"])
    assert str(times.dt.tz) == "UTC"
    frame["time"] = times
    pd.testing.assert_frame_equal(frame, as_frame(expected_rows(reef)), check_dtype=False)


def test_csv_times_are_utc_iso_with_z_and_milliseconds(client: FlaskClient, reef: Reef) -> None:
    lines = client.get(QUERY).get_data(as_text=True).splitlines()
    assert lines[0].split(",")[:6] == [
        "time",
        "buoy_id",
        "seq",
        "latitude",
        "longitude",
        "position_source",
    ]
    assert lines[1].startswith("2026-05-28T00:00:00.000Z,reef-a,1,")


def test_json_lines_load_with_pandas_with_the_same_rows(client: FlaskClient, reef: Reef) -> None:
    response = client.get(f"{QUERY}&format=json")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    first = json.loads(response.data.splitlines()[0])
    assert first["time"] == "2026-05-28T00:00:00.000Z"
    frame = pd.read_json(io.BytesIO(response.data), lines=True)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    expected = as_frame(expected_rows(reef))
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_flags_parameter_chooses_which_values_are_kept(client: FlaskClient, reef: Reef) -> None:
    frame = pd.read_csv(io.BytesIO(client.get(f"{QUERY}&flags=4").data))
    kept = frame[TEMPERATURE].notna()
    assert list(frame.loc[kept, "water_temperature_qc"]) == [4]
    assert frame.loc[kept, TEMPERATURE].tolist() == [water_a(1)]
    assert len(frame) == 7  # rows stay: other quantities may be kept


def test_samples_without_utc_time_are_not_exported(client: FlaskClient, reef: Reef) -> None:
    frame = pd.read_csv(io.BytesIO(client.get("/api/export?buoy=reef-b").data))
    assert len(frame) == 3
    assert 20.0 not in frame[TEMPERATURE].tolist()


@pytest.mark.parametrize("chunk_rows", [1, 2, 3])
def test_chunk_boundaries_change_nothing(client: FlaskClient, chunk_rows: int) -> None:
    whole = client.get(QUERY).data
    use_settings(client.application, chunk_rows=chunk_rows)
    assert client.get(QUERY).data == whole
