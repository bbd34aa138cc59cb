"""The NetCDF export: values, units, flags and attributes read back with netCDF4, and the file
passes the CF checker (cfchecks) with no error and no warning."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import compliance_checker
import netCDF4
import numpy as np
import pytest
from flask.testing import FlaskClient

from nemopi import __version__
from tests.export.conftest import MOORING_B, Reef, gps_a, ph_a, water_a

QUERY = "/api/export?buoy=reef-a,reef-b&quantity=water_temperature,ph&format=netcdf"
# cfchecks reads the CF tables from the web by default; the standard name table comes with
# compliance-checker, and the file uses no area types or regions, so empty tables do.
STANDARD_NAMES = Path(compliance_checker.__file__).with_name("data") / "cf-standard-name-table.xml"
EMPTY_TABLE = '<?xml version="1.0"?><{0}><version_number>0</version_number><date>-</date></{0}>'


@pytest.fixture
def netcdf_file(client: FlaskClient, reef: Reef, tmp_path: Path) -> Path:
    response = client.get(QUERY)
    assert response.status_code == 200
    assert response.mimetype == "application/x-netcdf"
    path = tmp_path / "export.nc"
    path.write_bytes(response.data)
    return path


def test_netcdf_holds_the_stored_values_flags_and_stations(netcdf_file: Path) -> None:
    with netCDF4.Dataset(netcdf_file) as ds:
        ids = [bytes(row).decode().rstrip("\0") for row in ds["station_id"][:].data]
        assert ids == ["reef-a", "reef-b"]
        assert ds["lat"][1] == MOORING_B[0] and ds["lon"][1] == MOORING_B[1]
        assert ds["lat"][0] == gps_a(0)[0]  # no mooring: its first fix
        station = ds["station_index"][:]
        assert list(station) == [0, 1, 0, 1, 0, 1, 0]
        a = station == 0
        temperature = ds["water_temperature"][:]
        assert ds["water_temperature"].units == "degree_Celsius"
        assert ds["water_temperature"].standard_name == "sea_water_temperature"
        assert ds["water_temperature"].ancillary_variables == (
            "water_temperature_qc water_temperature_status"
        )
        assert list(temperature[a].filled(np.nan)) == pytest.approx(
            [water_a(0), np.nan, water_a(2), water_a(3)], nan_ok=True, abs=0
        )
        assert list(temperature[~a]) == [27.5, 28.5, 29.5]
        assert list(ds["water_temperature_qc"][a]) == [1, 4, 2, 2]
        assert list(ds["ph"][a].filled(np.nan)) == pytest.approx(
            [ph_a(0), ph_a(1), np.nan, ph_a(3)], nan_ok=True, abs=0
        )
        assert list(ds["ph_qc"][a]) == [2, 2, 9, 2]
        assert list(ds["ph_status"][a].filled(-1)) == [0, 0, 4, 0]  # 4: UNREACHABLE
        assert list(ds["water_temperature_status"][~a]) == [0, 1, 0]  # 1: WARMING_UP
        assert list(ds["water_temperature_qc"].flag_values) == [1, 2, 3, 4, 9]
        times = netCDF4.num2date(ds["time"][:], ds["time"].units, only_use_cftime_datetimes=False)
        assert times[0].isoformat() == "2026-05-28T00:00:00"
        assert list(ds["sample_latitude"][a]) == [gps_a(i)[0] for i in range(4)]


def test_netcdf_carries_acdd_metadata(netcdf_file: Path, reef: Reef) -> None:
    with netCDF4.Dataset(netcdf_file) as ds:
        attributes = ds.__dict__
    for name in (
        "title",
        "summary",
        "institution",
        "license",
        "creator_name",
        "history",
        "source",
        "references",
        "citation",
        "geospatial_lat_min",
    ):
        assert attributes[name], name
    assert attributes["Conventions"] == "CF-1.8, ACDD-1.3"
    assert attributes["featureType"] == "timeSeries"
    assert attributes["license"] == "CC-BY-4.0"
    assert attributes["time_coverage_start"] == "2026-05-28T00:00:00.000Z"
    assert attributes["time_coverage_end"] == "2026-05-28T00:30:00.000Z"
    assert attributes["qc_version"] == reef.qc_version
    assert __version__ in attributes["source"]
    assert '"procedure": "ph.mid"' in attributes["nemopi_buoys"]


def test_netcdf_passes_the_cf_checker(netcdf_file: Path, tmp_path: Path) -> None:
    area = tmp_path / "area.xml"
    area.write_text(EMPTY_TABLE.format("area_type_table"))
    regions = tmp_path / "regions.xml"
    regions.write_text(EMPTY_TABLE.format("standardized_region_list"))
    cfchecks = Path(sys.executable).with_name("cfchecks")
    run = subprocess.run(
        [cfchecks, "-v", "1.8", "-s", STANDARD_NAMES, "-a", area, "-r", regions, netcdf_file],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "ERRORS detected: 0" in run.stdout, run.stdout + run.stderr
    assert "WARNINGS given: 0" in run.stdout, run.stdout


def test_empty_netcdf_is_a_valid_file(client: FlaskClient, reef: Reef, tmp_path: Path) -> None:
    response = client.get(f"{QUERY}&start=2020-01-01&end=2020-01-02")
    assert response.status_code == 200
    path = tmp_path / "empty.nc"
    path.write_bytes(response.data)
    with netCDF4.Dataset(path) as ds:
        assert ds.dimensions["obs"].size == 0
        assert ds.dimensions["station"].size == 2


def test_no_temporary_file_is_left_behind(
    client: FlaskClient, reef: Reef, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    response = client.get(QUERY)
    blocks = iter(response.response)
    next(blocks)  # the file is written and being sent...
    assert list(scratch.iterdir()) == []  # ...from an open file already unlinked
    response.close()  # the client goes away
    assert list(scratch.iterdir()) == []
