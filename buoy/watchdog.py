"""systemd's watchdog, spoken directly: readiness, liveness pings and a status line.

Why: a daemon that hangs (a driver blocked on a dead bus, a deadlock) stays "active" to
systemd forever, and nobody is at sea to notice. With ``Type=notify`` and ``WatchdogSec=``
in the unit, systemd kills and restarts the daemon when the pings stop. The pings must mean
"sampling is alive", not merely "the process exists": ``LivenessGate`` lets one through only
when a sample cycle completed recently.

The sd_notify protocol is one datagram of ``KEY=value`` lines to the unix socket named in
``NOTIFY_SOCKET`` (a name starting with ``@`` is in the abstract namespace), so no library
is needed. Without ``NOTIFY_SOCKET`` (run by hand, in tests, in the demo) every call is a
no-op. Sending never raises: a failure is logged once and reported as False.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping

from buoy.closeable import Closeable

log = logging.getLogger(__name__)


def _socket_address(name: str) -> str | None:
    """The address to send to for a ``NOTIFY_SOCKET`` value; None for one we cannot use."""
    if name.startswith("@"):
        return "\0" + name[1:]
    if name.startswith("/"):
        return name
    return None


class Notifier(Closeable):
    """Sends sd_notify messages to the socket named ``notify_socket`` (None: do nothing)."""

    def __init__(self, notify_socket: str | None) -> None:
        self._address = _socket_address(notify_socket) if notify_socket else None
        if notify_socket and self._address is None:
            log.warning("NOTIFY_SOCKET %r is not a unix socket; not notifying", notify_socket)
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        return cls(environ.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self) -> bool:
        """Start-up is complete (``Type=notify`` units count as started from here)."""
        return self._send("READY=1")

    def ping(self) -> bool:
        """The daemon is alive: systemd's watchdog timer starts again."""
        return self._send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """A one-line status that ``systemctl status`` shows."""
        return self._send("STATUS=" + " ".join(text.splitlines()))

    def stopping(self) -> bool:
        """A clean stop has begun: the watchdog no longer applies."""
        return self._send("STOPPING=1")

    def _send(self, message: str) -> bool:
        if self._address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self._address)
        except OSError as exc:
            level = logging.DEBUG if self._warned else logging.WARNING
            log.log(level, "sd_notify %s failed: %r", message.split("=")[0], exc)
            self._warned = True
            return False
        return True

    def close(self) -> None:
        """Close the socket; safe to call twice."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(
    environ: Mapping[str, str] = os.environ, pid: int | None = None
) -> float | None:
    """systemd's ``WatchdogSec`` in seconds when it applies to process ``pid``; else None."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
        owner = environ.get("WATCHDOG_PID")
        if owner is not None and int(owner) != (os.getpid() if pid is None else pid):
            return None
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class LivenessGate:
    """Allows a watchdog ping only while sample cycles keep completing.

    ``max_silence_s`` is the longest time since the last completed cycle (or since the gate
    was made, so the first cycle gets the same grace) for which the loop still counts as alive;
    ``ping_every_s`` spaces the pings (half the watchdog interval is systemd's advice).
    ``monotonic`` is the clock both are measured on.
    """

    def __init__(
        self, max_silence_s: float, ping_every_s: float, monotonic: Callable[[], float]
    ) -> None:
        if max_silence_s <= 0 or ping_every_s < 0:
            raise ValueError("max_silence_s must be > 0 and ping_every_s >= 0")
        self.max_silence_s = max_silence_s
        self.ping_every_s = ping_every_s
        self._monotonic = monotonic
        self._last_cycle = monotonic()
        self._last_ping: float | None = None

    def cycle_completed(self) -> None:
        """A sample cycle has just finished."""
        self._last_cycle = self._monotonic()

    def alive(self) -> bool:
        return self._alive_at(self._monotonic())

    def ping_due(self) -> bool:
        """True (and counted as sent) when the loop is alive and a ping is due."""
        now = self._monotonic()
        if not self._alive_at(now):
            return False
        if self._last_ping is not None and now - self._last_ping < self.ping_every_s:
            return False
        self._last_ping = now
        return True

    def _alive_at(self, now: float) -> bool:
        return now - self._last_cycle <= self.max_silence_s
