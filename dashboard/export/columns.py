"""The names of the exported columns: one scheme for CSV, JSON and the metadata.

Units travel in the header so that a plain ``pandas.read_csv`` gets every column right with no
units row to skip: a value column is ``<quantity>_<unit>``, the unit being the catalogue's
UDUNITS string with spaces written as ``_`` (``current_speed_m_s-1``), and no suffix for a
dimensionless unit ("1": ``ph``). Each value is followed by ``<quantity>_qc`` (its aggregate
QARTOD flag) and ``<quantity>_status`` (the buoy's sensor status name).
"""

from __future__ import annotations

from nemopi.catalogue import Quantity

DIMENSIONLESS = "1"
POSITION_SOURCES = ("gps", "mooring")  # where a row's latitude and longitude come from
LEADING = ("time", "buoy_id", "seq", "latitude", "longitude", "position_source")


def value_column(quantity: Quantity) -> str:
    if quantity.unit == DIMENSIONLESS:
        return quantity.name
    return f"{quantity.name}_{quantity.unit.replace(' ', '_')}"


def qc_column(quantity: Quantity) -> str:
    return f"{quantity.name}_qc"


def status_column(quantity: Quantity) -> str:
    return f"{quantity.name}_status"


def header(quantities: tuple[Quantity, ...]) -> tuple[str, ...]:
    """Every column of a row, in row order."""
    return LEADING + tuple(
        name for q in quantities for name in (value_column(q), qc_column(q), status_column(q))
    )
