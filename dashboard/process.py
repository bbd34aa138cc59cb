"""What both dashboard processes do around their work: configuration, logging, signals.

``start`` loads the process's TOML file and configures logging from it, or logs why it cannot
(a ``ConfigError`` names the file and the key) and returns None; ``upgrade`` brings the
database schema up to date or logs why it cannot. ``stop_signals`` calls a function on SIGTERM
or SIGINT for as long as the ``with`` block lasts. Exit codes for the command line are here.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Protocol, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from dashboard.db import upgrade_database
from nemopi.configfile import ConfigError
from nemopi.logsetup import configure_logging

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_DATABASE = 1
EXIT_CONFIG = 2
EXIT_NETWORK = 3


class HasLogLevel(Protocol):
    @property
    def log_level(self) -> str: ...


C = TypeVar("C", bound=HasLogLevel)


def start(path: Path, loader: Callable[[Path], C], process: str) -> C | None:
    try:
        config = loader(path)
    except ConfigError as exc:
        configure_logging("INFO", process)
        log.error("%s", exc)
        return None
    configure_logging(config.log_level, process)
    return config


def upgrade(url: str) -> bool:
    """True once the schema at ``url`` is current; False (logged) when it cannot be."""
    try:
        upgrade_database(url)
    except SQLAlchemyError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        log.error("cannot prepare the database at %s: %s", shown, exc)
        return False
    return True


@contextmanager
def stop_signals(on_stop: Callable[[], None]) -> Iterator[None]:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        on_stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
