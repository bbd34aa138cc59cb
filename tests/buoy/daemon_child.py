"""A buoy daemon process with fake sensors, for the tests that kill it: ``python -m
tests.buoy.daemon_child <config.toml> [<hang file>]``. Exits with what ``serve`` returns.

With a hang file, the sensor's ``read()`` blocks while that file exists (and creates
``<hang file>.hung`` when it does), like a driver stuck on a dead bus."""

from __future__ import annotations

import sys
from pathlib import Path

from buoy.config import load_buoy_config
from buoy.daemon import BuoyDaemon, serve
from nemopi.logsetup import configure_logging
from sensors.clock import SystemClock
from sensors.reading import Sensor
from tests.buoy.fake_sensors import Hanging, Thermometer


def main(config_path: Path, hang: Path | None = None) -> int:
    config = load_buoy_config(config_path)
    configure_logging(config.log_level, "buoy-under-test")
    sensor: Sensor = Thermometer() if hang is None else Hanging(hang, hang.with_suffix(".hung"))
    with BuoyDaemon(config, [sensor], SystemClock(), config_path=config_path) as daemon:
        return serve(daemon)


if __name__ == "__main__":
    sys.exit(main(*(Path(arg) for arg in sys.argv[1:3])))
