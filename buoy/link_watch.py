"""Half-open link detection: a connection that hears nothing from the broker is given up.

Why: a cellular link can die without a FIN or RST ever reaching the buoy, and until the buoy
notices, nothing it publishes gets anywhere. paho 2.2 sends a PINGREQ after a keepalive of
silence and closes the connection only when a second keepalive passes without an answer: about
2 x keepalive. The buoy must notice within 1.5 x keepalive, without a shorter keepalive (twice
the pings on an idle link, paid in airtime every day). On a healthy link something arrives at
least every keepalive plus a round trip, since paho's own PINGREQ draws a PINGRESP when
nothing else does; so a silence of ``limit_s`` (1.4 x keepalive, leaving a tenth for acting on
it) means the link is dead.

``LinkWatch`` is told each time a packet arrives (``heard``) and runs one thread that sleeps
until the deadline, so it wakes about once per silence, not on a tick. It knows nothing of
MQTT: ``on_silence`` gets the token it was armed with (the uplink's socket) and closes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Of the keepalive: silence for this long ends a connection.
SILENCE_FACTOR = 1.4


class LinkWatch:
    """Calls ``on_silence(token)`` once an armed connection has heard nothing for ``limit_s``."""

    def __init__(
        self,
        limit_s: float,
        on_silence: Callable[[object], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit_s <= 0:
            raise ValueError(f"limit_s must be positive, not {limit_s}")
        self.limit_s = limit_s
        self._on_silence = on_silence
        self._clock = clock
        self._cond = threading.Condition()
        self._token: object | None = None
        self._heard_at = 0.0
        self._closing = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("link watch already started")
        self._thread = threading.Thread(target=self._run, name="link-watch", daemon=True)
        self._thread.start()

    def arm(self, token: object) -> None:
        """Watch the connection ``token`` from now on, as if a packet had just arrived."""
        with self._cond:
            self._token = token
            self._heard_at = self._clock()
            self._cond.notify()

    def heard(self) -> None:
        """A packet arrived from the broker."""
        with self._cond:
            self._heard_at = self._clock()

    def disarm(self) -> None:
        """The connection is gone: stop watching until the next ``arm``."""
        with self._cond:
            self._token = None

    def close(self) -> None:
        """End the thread; safe to call twice."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                token = self._wait_for_silence()
            if token is None:
                return
            try:
                self._on_silence(token)
            except Exception:  # the watch must outlive one failed attempt to close a link
                log.exception("could not close a silent link")

    def _wait_for_silence(self) -> object | None:
        """The token of the connection that fell silent; None when closing. Holds the lock."""
        while not self._closing:
            if self._token is None:
                self._cond.wait()
                continue
            remaining = self._heard_at + self.limit_s - self._clock()
            if remaining > 0:
                self._cond.wait(remaining)
                continue
            token, self._token = self._token, None
            return token
        return None
