"""``nemopi qc rerun``: flag stored readings again with the QC configuration now in force.

It reads the ingest's TOML file (for the database and ``qc_file``), refuses a QC file it does
not understand (``ConfigError``: exit code 2), and flags every sample in range under the
current QC version. Older versions' flags and the readings themselves are left as they are.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from dashboard import process as proc
from dashboard.config import load_ingest_config
from dashboard.db import make_engine
from dashboard.qc.config import load_qc_config
from dashboard.qc.runner import QcRunner
from nemopi.logsetup import configure_logging

log = logging.getLogger(__name__)


def rerun(config_path: Path, buoy_id: str | None, since: str | None, until: str | None) -> int:
    """Run the command; the process exit code."""
    config = load_ingest_config(config_path)
    configure_logging(config.log_level, "qc")
    qc = load_qc_config(config.qc_file)
    try:
        bounds = [None if text is None else parse_utc(text) for text in (since, until)]
    except ValueError as exc:
        log.error("%s", exc)
        return proc.EXIT_CONFIG
    if not proc.upgrade(config.database.url):
        return proc.EXIT_DATABASE
    engine = make_engine(config.database.url)
    try:
        flagged = QcRunner(engine, qc).rerun(buoy_id, *bounds)
    except ValueError as exc:  # an unknown buoy
        log.error("%s", exc)
        return proc.EXIT_CONFIG
    finally:
        engine.dispose()
    log.info("QC version %s: %d samples flagged", qc.version, flagged)
    return proc.EXIT_OK


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time (e.g. 2026-05-28T06:00Z)") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
