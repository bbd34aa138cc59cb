"""What the dashboard's processes and commands do around their work: configuration,
logging, the database, signals.

``start`` loads the process's TOML file and configures logging from it, or logs why it cannot
(a ``ConfigError`` names the file and the key) and returns None; ``upgrade`` brings the
database schema up to date or logs why it cannot. ``run_on_database`` is the whole frame of an
operator's command (``nemopi buoy add``, ``shop add``, ``qc rerun``, ...). ``stop_signals``
calls a function on SIGTERM or SIGINT for as long as the ``with`` block lasts. Exit codes for
the command line are here.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from dashboard.db import make_engine, upgrade_database
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


class HasDatabaseUrl(Protocol):
    @property
    def url(self) -> str: ...


class HasDatabase(HasLogLevel, Protocol):
    @property
    def database(self) -> HasDatabaseUrl: ...


C = TypeVar("C", bound=HasLogLevel)
D = TypeVar("D", bound=HasDatabase)


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


def run_on_database(
    config_path: Path,
    loader: Callable[[Path], D],
    process: str,
    work: Callable[[D, Engine], object],
    refused: tuple[type[Exception], ...] = (ValueError,),
) -> int:
    """Load the config, bring the schema up to date, run ``work``; the command's exit code.

    ``refused`` are the errors that mean the operator asked for something impossible (an
    unknown buoy, a bad time): logged, exit code 2. A failing database is logged, exit code 1.
    """
    config = start(config_path, loader, process)
    if config is None:
        return EXIT_CONFIG
    if not upgrade(config.database.url):
        return EXIT_DATABASE
    engine = make_engine(config.database.url)
    try:
        work(config, engine)
    except refused as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    except SQLAlchemyError as exc:
        log.error("the database failed: %s", exc)
        return EXIT_DATABASE
    finally:
        engine.dispose()
    return EXIT_OK


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time from the command line; one without a zone is taken as UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time (e.g. 2026-05-28T06:00Z)") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """A command's ``--since``/``--until`` pair; an absent bound is None."""
    first, last = (None if text is None else parse_utc(text) for text in (since, until))
    return first, last


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
