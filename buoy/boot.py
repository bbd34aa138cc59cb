"""Boot numbers: which run of the monotonic clock an unsynchronised reading's uptime counts from.

Why: a sample taken before the clock is trustworthy carries ``(boot, ms since boot)``
(``nemopi.wire.ClockSource.UNSYNCED``). Its UTC can be worked out later only against an anchor
from the same run of the monotonic clock, so the number must change exactly when that clock
restarts, and never repeat.

The monotonic clock restarts with the operating system, not with the daemon: on Linux
``CLOCK_MONOTONIC`` counts from the kernel's start. So the number follows the kernel's random
``boot_id`` (``/proc/sys/kernel/random/boot_id``), not daemon starts: a daemon restarted by
systemd keeps its boot's number, and the unsynchronised samples of its previous run can still be
backfilled when the clock becomes known. A simulated buoy's clock starts afresh with each run,
so each run names its own timeline (``new_timeline_id``).

``boot_number`` maps timeline identities to small integers (1, 2, ...) kept in
``<data_dir>/boot.json``: the same identity as last time gets the same number, a new one the
next number. The file is replaced atomically and fsynced before the number is returned, so no
sample can carry a number that a power cut takes back. An unreadable file (a failing card) must
not stop the buoy, nor make it reuse a number: the count then restarts at a random number above
``RECOVERED_BOOT_MIN``, far beyond any count of real boots.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

KERNEL_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
BOOT_FILE = "boot.json"
RECOVERED_BOOT_MIN = 2**40


def kernel_boot_id(path: Path = KERNEL_BOOT_ID) -> str:
    """The identity of this operating-system boot (a UUID the kernel draws at start)."""
    return path.read_text(encoding="ascii").strip()


def new_timeline_id() -> str:
    """An identity for a monotonic clock that starts now (a simulated buoy's run)."""
    return uuid.uuid4().hex


def boot_number(data_dir: Path, timeline: str) -> int:
    """The boot number of ``timeline``, recorded durably in ``data_dir`` before it returns."""
    path = data_dir / BOOT_FILE
    previous = _read(path)
    if previous is not None and previous[0] == timeline:
        return previous[1]
    number = 1 if previous is None else previous[1] + 1
    _write(path, timeline, number)
    log.info("boot %d (timeline %s)", number, timeline)
    return number


def _read(path: Path) -> tuple[str, int] | None:
    """The recorded ``(timeline, number)``; None before the first boot."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        timeline, number = record["timeline"], record["boot"]
        if not isinstance(timeline, str) or type(number) is not int or number < 1:
            raise ValueError(f"unexpected record {record!r}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        recovered = RECOVERED_BOOT_MIN + secrets.randbelow(RECOVERED_BOOT_MIN)
        log.error("%s is unreadable (%r): boot numbers go on from %d", path, exc, recovered)
        return "", recovered
    return timeline, number


def _write(path: Path, timeline: str, number: int) -> None:
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8") as file:
        json.dump({"timeline": timeline, "boot": number}, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
