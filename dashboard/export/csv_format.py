"""CSV bytes from chunks of rows: a header line, then one line per row, nothing else.

No units row and no comment lines, so that a plain ``pandas.read_csv(url)`` gives float64
values, int64 flags and text statuses; units are in the header names (``columns``) and the
rest of the metadata is in the sidecar (``format=metadata``). An empty export is the header.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from dashboard.export.rows import Row

MEDIA_TYPE = "text/csv; charset=utf-8; header=present"


def csv_bytes(header: tuple[str, ...], chunks: Iterable[list[Row]]) -> Iterator[bytes]:
    """One bytes object per chunk (the first is the header): ``csv.writer`` formats a whole
    chunk in C, and floats come out as ``repr``, which reads back to the identical float."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    yield buffer.getvalue().encode()
    for chunk in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(chunk)
        yield buffer.getvalue().encode()
