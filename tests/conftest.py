from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto on a free port, stopped after the test."""
    workdir = tmp_path / "broker-mosquitto"
    workdir.mkdir()  # Mosquitto() writes its config there at once
    broker = Mosquitto(workdir)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(autouse=True)
def _no_handler_on_a_closed_stream() -> Iterator[None]:
    """A CLI entry point called in-process points the root logger at this test's captured
    stderr, which pytest closes afterwards; a later test's paho thread logging there prints
    "--- Logging error ---" into the run. Its handler goes when the test ends."""
    yield
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
