"""JSON Lines from chunks of rows: one JSON object per row, keyed by the CSV's column names.

JSON Lines streams (each line stands alone, so a cut download loses at most its last line)
and loads with ``pandas.read_json(url, lines=True)``. Missing values are ``null``. An empty
export is an empty body; the metadata is the same sidecar as the CSV's (``format=metadata``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from dashboard.export.rows import Row

MEDIA_TYPE = "application/x-ndjson"

_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def json_lines(header: tuple[str, ...], chunks: Iterable[list[Row]]) -> Iterator[bytes]:
    for chunk in chunks:
        yield "".join(_encode(dict(zip(header, row, strict=True))) + "\n" for row in chunk).encode()
