"""Figures about the Pi itself for the status report: CPU temperature and free disk.

Why separate: these are the only health figures that touch the operating system, so the
status builder (``buoy.health``) stays pure. A probe never raises: a figure it cannot read is
None, and the first failure of each probe is logged as a warning (later ones only at debug
level, so a missing thermal zone does not fill the SD card with the same line every cycle).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
BYTES_PER_MB = 1_000_000


class SystemProbes:
    """Reads the CPU temperature from ``thermal_path`` and free space where ``data_dir`` is."""

    def __init__(self, data_dir: Path, thermal_path: Path = THERMAL_ZONE) -> None:
        self.data_dir = data_dir
        self.thermal_path = thermal_path
        self._warned: set[str] = set()

    def cpu_temperature(self) -> float | None:
        """The SoC temperature in °C (the kernel gives millidegrees); None when unreadable."""
        try:
            text = self.thermal_path.read_text(encoding="ascii")
            return int(text.strip()) / 1000
        except (OSError, ValueError) as exc:
            self._failed("cpu_temperature", f"{self.thermal_path}: {exc!r}")
            return None

    def disk_free(self) -> float | None:
        """Free space, in MB, on the file system that holds the data folder; None on failure."""
        try:
            return shutil.disk_usage(self.data_dir).free / BYTES_PER_MB
        except OSError as exc:
            self._failed("disk_free", f"{self.data_dir}: {exc!r}")
            return None

    def _failed(self, probe: str, why: str) -> None:
        if probe in self._warned:
            log.debug("%s unavailable: %s", probe, why)
            return
        self._warned.add(probe)
        log.warning("%s unavailable, reported as unknown: %s", probe, why)
