"""A full SD card: the outbox cannot write, the daemon must not die or lose what it holds.

The daemon's data folder is a tmpfs of a few MB; the test fills it with a file and empties it
again while the daemon runs (the ingest away, so readings wait in the outbox meanwhile).
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Mosquitto
from tests.buoy.processes import Rig, wait_until

SIZE = "4m"
# Cycles to stay full: long enough for unconfirmed rows to fall due, go out again and be
# PUBACKed, so that the outbox must also record a broker acknowledgement on the full disk.
FULL_CYCLES = 12


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"CANNOT TEST A FULL DISK: mounting a tmpfs failed: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; the file."""
    filler = disk / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


@pytest.mark.slow
def test_daemon_survives_a_full_disk_and_resumes_sampling_when_space_returns(
    tmp_path: Path, small_disk: Path, mosquitto: Mosquitto
) -> None:
    """With no space left the daemon keeps running and says why samples are lost; the
    readings already in the outbox survive, and sampling resumes once space returns."""
    rig = Rig(
        tmp_path,
        mosquitto.port,
        sampling={"interval_s": 20.0},
        uplink={"resend_after_s": 300.0},
        simulation={"speedup": 100.0},
    )
    try:
        rig.start_ingest()
        buoy = rig.start_buoy()
        rig.wait_stored({1, 2, 3}, 60, "the first readings")
        rig.stop_ingest()
        wait_until(lambda: len(rig.waiting()) >= 3, 30, "readings waiting in the outbox")
        filler = fill(small_disk)
        log_mark = rig.buoy_log.stat().st_size

        def complained() -> bool:
            with rig.buoy_log.open("rb") as log:
                log.seek(log_mark)
                lost = log.read().count(b"could not be stored")
            return lost >= FULL_CYCLES or buoy.poll() is not None

        wait_until(complained, 60, "the daemon to run into the full disk")
        with rig.buoy_log.open("rb") as log:
            log.seek(log_mark)
            after_full = log.read().decode("utf-8", "replace")
        assert buoy.poll() is None, f"the daemon died on a full disk:\n{after_full[-3000:]}"
        held = rig.issued()
        filler.unlink()
        wait_until(lambda: rig.issued() > held + 2, 30, "sampling to resume")
        rig.start_ingest()
        rig.stop_buoy()
        tally = rig.final_tally(timeout=60)
        assert tally.lost == [] and tally.duplicated == []
    finally:
        rig.close()
