"""A buoy daemon process with fake sensors, for the tests that kill it: ``python -m
tests.buoy.daemon_child <config.toml>``. Exits with what ``serve`` returns."""

from __future__ import annotations

import sys
from pathlib import Path

from buoy.config import load_buoy_config
from buoy.daemon import BuoyDaemon, serve
from nemopi.logsetup import configure_logging
from sensors.clock import SystemClock
from tests.buoy.fake_sensors import Thermometer


def main(config_path: Path) -> int:
    config = load_buoy_config(config_path)
    configure_logging(config.log_level, "buoy-under-test")
    with BuoyDaemon(config, [Thermometer()], SystemClock()) as daemon:
        return serve(daemon)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
