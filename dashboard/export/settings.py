"""The export settings of the web process: limits that keep one download from hurting the
others, and the licence and attribution that travel with every file."""

from __future__ import annotations

from dataclasses import dataclass

from limits import parse_many

from nemopi.configfile import in_range, setting


def _limit_text(text: str) -> str | None:
    """Why ``text`` is not a rate limit, or None when it is one."""
    try:
        parse_many(text)
    except ValueError as exc:
        return f"not a rate limit such as '10 per minute' ({exc})"
    return None


@dataclass(frozen=True)
class ExportSettings:
    max_rows: int = setting(
        5_000_000,
        doc=(
            "An export of more samples (rows) than this is refused with a 413 that says how to "
            "split it: the count stops at this limit, so asking costs at most that much."
        ),
        check=in_range(1, None),
    )
    max_buoys: int = setting(
        20, doc="At most this many buoys in one export.", check=in_range(1, 1000)
    )
    chunk_rows: int = setting(
        5_000,
        doc=(
            "Samples fetched per query while streaming (split between the buoys asked for). "
            "Each query is its own short transaction, so a download never holds the database."
        ),
        check=in_range(100, 100_000),
    )
    max_concurrent: int = setting(
        2,
        doc=(
            "Downloads streaming at once, from all clients together; one more is refused with a "
            "503 and Retry-After. Each holds a request thread while it streams, so keep it "
            "below the web's threads: the live pages must always find one free."
        ),
        check=in_range(1, 63),
    )
    rate_limit: str = setting(
        "10 per minute",
        doc=(
            "Exports (GET /api/export) one client address may start, written as Flask-Limiter "
            "writes a limit ('10 per minute', '100 per hour; 10 per minute'); beyond it a 429 "
            "says when to retry."
        ),
        check=_limit_text,
    )
    estimate_rate_limit: str = setting(
        "120 per minute",
        doc=(
            "Size estimates (GET /api/export/estimate) one client address may ask for: "
            "looser than exports, since the export page asks again whenever its form changes."
        ),
        check=_limit_text,
    )
    rate_limit_storage_uri: str = setting(
        "memory://",
        doc=(
            "Where the rate limit counters live (a Flask-Limiter storage URI). 'memory://' "
            "counts per web process: with several processes give them a shared one, e.g. "
            "'redis://localhost:6379', or each process allows the full rate."
        ),
    )
    license: str = setting(
        "CC-BY-4.0",
        doc="Licence of the exported data (an SPDX identifier or a URL), in every file's metadata.",
    )
    institution: str = setting(
        "", doc="Who runs the buoys, for the metadata and the suggested citation."
    )
    creator_url: str = setting("", doc="Where to find the data's creator (ACDD creator_url).")
    references: str = setting(
        "", doc="Publications or pages that describe the data (ACDD references)."
    )
