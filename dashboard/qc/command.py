"""``nemopi qc rerun``: flag stored readings again with the QC configuration now in force.

It reads the ingest's TOML file (for the database and ``qc_file``), refuses a QC file it does
not understand (``ConfigError``: exit code 2), and flags every sample in range under the
current QC version. Older versions' flags and the readings themselves are left as they are.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from dashboard import process as proc
from dashboard.config import IngestConfig, load_ingest_config
from dashboard.qc.config import load_qc_config
from dashboard.qc.runner import QcRunner

log = logging.getLogger(__name__)


def rerun(config_path: Path, buoy_id: str | None, since: str | None, until: str | None) -> int:
    """Run the command; the process exit code."""

    def work(config: IngestConfig, engine: Engine) -> None:
        qc = load_qc_config(config.qc_file)
        flagged = QcRunner(engine, qc).rerun(buoy_id, *proc.parse_range(since, until))
        log.info("QC version %s: %d samples flagged", qc.version, flagged)

    return proc.run_on_database(config_path, load_ingest_config, "qc", work)
