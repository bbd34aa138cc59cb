"""The metadata sidecar: the CSV and JSON exports link to it, and it says where the data come
from (buoys, moorings, calibrations, QC version), under which licence and how to cite them."""

from __future__ import annotations

from flask.testing import FlaskClient

from dashboard import webcontext
from dashboard.export.blueprint import ROWS_HEADER
from nemopi import __version__
from tests.export.conftest import MOORING_B, Reef, use_settings

QUERY = "/api/export?quantity=water_temperature,ph"


def test_csv_links_to_its_metadata_with_the_same_selection(client: FlaskClient, reef: Reef) -> None:
    link = client.get(f"{QUERY}&start=2026-05-28T00:05:00Z").headers["Link"]
    assert link.endswith('>; rel="describedby"; type="application/json"')
    url = link[1 : link.index(">")]
    assert "format=metadata" in url
    metadata = client.get(url).get_json()
    assert metadata["rows"] == 6
    assert metadata["attributes"]["time_coverage_start"] == "2026-05-28T00:05:00.000Z"


def test_metadata_says_where_the_data_come_from(client: FlaskClient, reef: Reef) -> None:
    response = client.get(f"{QUERY}&format=metadata")
    assert response.status_code == 200
    metadata = response.get_json()
    attributes = metadata["attributes"]
    assert attributes["license"] == "CC-BY-4.0"
    assert attributes["product_version"] == __version__
    assert "reef-a, reef-b" in attributes["citation"]  # every buoy, in id order
    assert attributes["time_coverage_end"] == "2026-05-28T00:30:00.000Z"
    assert attributes["geospatial_lat_min"] == MOORING_B[0]
    by_id = {b["id"]: b for b in metadata["buoys"]}
    assert by_id["reef-b"]["mooring"]["latitude"] == MOORING_B[0]
    assert by_id["reef-a"]["calibrations"] == [
        {
            "part": "ph",
            "version": 1,
            "procedure": "ph.mid",
            "calibrated_at": "2026-05-26T00:00:00.000Z",
            "values": {"points": 1},
        }
    ]
    assert metadata["qc"]["version"] == reef.qc_version
    assert metadata["qc"]["flag_meanings"]["4"] == "fail"
    assert metadata["qc"]["thresholds"]
    columns = {c["name"]: c for c in metadata["columns"]}
    assert columns["water_temperature_degree_Celsius"]["unit"] == "degree_Celsius"
    assert columns["water_temperature_degree_Celsius"]["standard_name"] == "sea_water_temperature"
    assert "ph_qc" in columns and "ph_status" in columns
    assert any("not exported" in note for note in metadata["notes"])


def test_licence_comes_from_the_settings(client: FlaskClient, reef: Reef) -> None:
    use_settings(client.application, license="ODbL-1.0", institution="Reef Trust")
    attributes = client.get(f"{QUERY}&format=metadata").get_json()["attributes"]
    assert attributes["license"] == "ODbL-1.0"
    assert attributes["citation"].startswith("Reef Trust (2026).")


def test_export_says_its_size_before_the_body(client: FlaskClient, reef: Reef) -> None:
    response = client.get(QUERY, buffered=False)
    assert response.headers[ROWS_HEADER] == "7"
    response.close()


def test_no_database_connection_is_held_between_chunks(client: FlaskClient, reef: Reef) -> None:
    use_settings(client.application, chunk_rows=1)
    pool = webcontext.engine(client.application).pool
    response = client.get(f"{QUERY}&buoy=reef-a", buffered=False)
    blocks = response.iter_encoded()
    received = [next(blocks), next(blocks), next(blocks)]  # header and two one-row chunks
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    received += list(blocks)
    response.close()
    assert len(b"".join(received).splitlines()) == 5
