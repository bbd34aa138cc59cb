"""Logging is configured once per process, here; library code only asks for loggers."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "INFO", process: str = "nemopi") -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s {process} %(levelname)s %(name)s: %(message)s",
        force=True,
    )
