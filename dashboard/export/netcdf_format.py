"""NetCDF from chunks of rows: CF-1.8 discrete sampling geometry, ACDD global attributes.

The file is a ``timeSeries`` feature collection, one station per buoy, in the *indexed ragged
array* form (CF 9.3.4): observations are written in the export's own (time, buoy) order, each
with the index of its station, so rows go into the file chunk by chunk as they come from the
database and never need regrouping in memory. Every quantity is a variable with the catalogue's
units and CF standard name, and two ancillary variables: its aggregate QARTOD flag and the
buoy's sensor status, both with ``flag_values``/``flag_meanings``.

NetCDF cannot be written to a socket (the header is rewritten as the file grows), so the file
is built in a temporary file, then streamed and deleted; ``netcdf_bytes`` deletes it even when
the download is abandoned.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from dashboard.export.columns import LEADING, POSITION_SOURCES
from dashboard.export.metadata import FLAG_MEANINGS
from dashboard.export.rows import ExportPlan, Row
from nemopi.catalogue import Quantity
from nemopi.sensor_status import SensorStatus

MEDIA_TYPE = "application/x-netcdf"
READ_BYTES = 1 << 20
TIME_UNITS = "seconds since 1970-01-01 00:00:00"
NO_STATUS = -1
_STATUS_CODES = {s.name: int(s) for s in SensorStatus}
_SOURCE_CODES = {name: i + 1 for i, name in enumerate(POSITION_SOURCES)}


def netcdf_bytes(
    plan: ExportPlan, metadata: dict[str, Any], chunks: Iterable[list[Row]]
) -> Iterator[bytes]:
    """Write the file, then yield it in blocks; the temporary file is gone afterwards."""
    handle, name = tempfile.mkstemp(prefix="nemopi-export-", suffix=".nc")
    os.close(handle)
    path = Path(name)
    try:
        write_netcdf(path, plan, metadata, chunks)
        with path.open("rb") as f:
            path.unlink()  # the open file stays readable; nothing is left behind on disk
            while block := f.read(READ_BYTES):
                yield block
    finally:
        path.unlink(missing_ok=True)


def write_netcdf(
    path: Path, plan: ExportPlan, metadata: dict[str, Any], chunks: Iterable[list[Row]]
) -> None:
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.setncatts(metadata["attributes"])
        ds.setncatts(
            {
                "comment": " ".join(metadata["notes"]),
                "nemopi_buoys": json.dumps(metadata["buoys"]),
                "nemopi_qc": json.dumps(metadata["qc"]),
            }
        )
        _stations(ds, plan)
        _observations(ds, plan.request.quantities)
        first_fix = _fill(ds, plan, chunks)
        for i, buoy in enumerate(plan.buoys):
            position = (buoy.mooring_latitude, buoy.mooring_longitude)
            if None in position:
                position = first_fix.get(i, (np.nan, np.nan))
            ds["lat"][i], ds["lon"][i] = position


def _stations(ds: netCDF4.Dataset, plan: ExportPlan) -> None:
    ds.createDimension("station", len(plan.buoys))
    width = max([len(b.id) for b in plan.buoys] or [1])
    ds.createDimension("id_strlen", width)
    ids = ds.createVariable("station_id", "S1", ("station", "id_strlen"))
    ids.setncatts({"cf_role": "timeseries_id", "long_name": "buoy id"})
    if plan.buoys:
        ids[:] = netCDF4.stringtochar(np.array([b.id for b in plan.buoys], dtype=f"S{width}"))
    for name, standard, units in (
        ("lat", "latitude", "degrees_north"),
        ("lon", "longitude", "degrees_east"),
    ):
        var = ds.createVariable(name, "f8", ("station",), fill_value=np.nan)
        var.setncatts(
            {
                "standard_name": standard,
                "units": units,
                "long_name": f"{standard} of the buoy's mooring (else its first GPS fix)",
            }
        )


def _observations(ds: netCDF4.Dataset, quantities: tuple[Quantity, ...]) -> None:
    ds.createDimension("obs", None)
    index = ds.createVariable("station_index", "i4", ("obs",))
    index.setncatts({"instance_dimension": "station", "long_name": "which buoy"})
    time = ds.createVariable("time", "f8", ("obs",))
    time.setncatts(
        {
            "standard_name": "time",
            "long_name": "sample time (UTC)",
            "units": TIME_UNITS,
            "calendar": "standard",
            "axis": "T",
        }
    )
    seq = ds.createVariable("seq", "i8", ("obs",))
    seq.setncatts({"long_name": "the buoy's sequence number of the sample"})
    for name, units, what in (
        ("sample_latitude", "degrees_north", "latitude"),
        ("sample_longitude", "degrees_east", "longitude"),
    ):
        var = ds.createVariable(name, "f8", ("obs",), fill_value=np.nan)
        var.setncatts({"units": units, "long_name": f"{what} of the sample (see position_source)"})
    source = ds.createVariable("position_source", "i1", ("obs",), fill_value=0)
    source.setncatts(
        {
            "long_name": "where sample_latitude and sample_longitude come from",
            "flag_values": np.array(list(_SOURCE_CODES.values()), dtype="i1"),
            "flag_meanings": " ".join(_SOURCE_CODES),
        }
    )
    flag_values = np.array([int(f) for f in FLAG_MEANINGS], dtype="i1")
    status_values = np.array([int(s) for s in SensorStatus], dtype="i2")
    for q in quantities:
        value = ds.createVariable(q.name, "f8", ("obs",), fill_value=np.nan)
        attributes = {
            "long_name": q.label,
            "units": q.unit,
            "coordinates": "time lat lon",
            "ancillary_variables": f"{q.name}_qc {q.name}_status",
        }
        if q.cf_standard_name:
            attributes["standard_name"] = q.cf_standard_name
        value.setncatts(attributes)
        qc = ds.createVariable(f"{q.name}_qc", "i1", ("obs",))
        qc.setncatts(
            {
                "long_name": f"aggregate QARTOD flag of {q.name}",
                "flag_values": flag_values,
                "flag_meanings": " ".join(FLAG_MEANINGS.values()),
                "standard_name": "aggregate_quality_flag",
            }
        )
        status = ds.createVariable(f"{q.name}_status", "i2", ("obs",), fill_value=NO_STATUS)
        status.setncatts(
            {
                "long_name": f"the buoy's sensor status of {q.name}",
                "flag_values": status_values,
                "flag_meanings": " ".join(s.name.lower() for s in SensorStatus),
            }
        )


def _fill(
    ds: netCDF4.Dataset, plan: ExportPlan, chunks: Iterable[list[Row]]
) -> dict[int, tuple[float, float]]:
    """Append the rows; return each station's first GPS fix (for a buoy with no mooring)."""
    station = {b.id: i for i, b in enumerate(plan.buoys)}
    first_fix: dict[int, tuple[float, float]] = {}
    n = 0
    for chunk in chunks:
        columns = list(zip(*chunk, strict=True))
        end = n + len(chunk)
        stations = np.array([station[b] for b in columns[1]], dtype="i4")
        ds["station_index"][n:end] = stations
        times = np.array([t[:-1] for t in columns[0]], dtype="datetime64[ms]")
        ds["time"][n:end] = times.astype("i8") / 1000.0
        ds["seq"][n:end] = np.array(columns[2], dtype="i8")
        ds["sample_latitude"][n:end] = np.array(columns[3], dtype="f8")
        ds["sample_longitude"][n:end] = np.array(columns[4], dtype="f8")
        ds["position_source"][n:end] = np.array(
            [_SOURCE_CODES.get(s, 0) for s in columns[5]], dtype="i1"
        )
        for k, q in enumerate(plan.request.quantities):
            at = len(LEADING) + 3 * k
            ds[q.name][n:end] = np.array(columns[at], dtype="f8")
            ds[f"{q.name}_qc"][n:end] = np.array(columns[at + 1], dtype="i1")
            ds[f"{q.name}_status"][n:end] = np.array(
                [_status_code(s) for s in columns[at + 2]], dtype="i2"
            )
        for i, (source, b) in enumerate(zip(columns[5], columns[1], strict=True)):
            if source == "gps" and station[b] not in first_fix:
                first_fix[station[b]] = (columns[3][i], columns[4][i])
        n = end
    return first_fix


def _status_code(name: str | None) -> int:
    """The status number back from its exported name (a number this dashboard does not know
    is exported as its digits)."""
    if name is None:
        return NO_STATUS
    code = _STATUS_CODES.get(name)
    return int(name) if code is None else code
