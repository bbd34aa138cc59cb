"""A paddle wheel in moving water, pulsing a gpiozero mock pin for the real driver.

The emulator asks ``true_speed()`` for the current in m/s, turns it into a pulse rate with
the wheel's own ``CalibrationTable`` (its inverse), and pulses the ``MockPin`` that the
driver's ``DigitalInputDevice`` listens on: ``drive_low()`` then ``drive_high()`` for an
open-collector output pulled up, the reverse for one pulled down ([P7]; ``SENSORS.md``
section 6). MockPin calls the driver's callback synchronously, in the emulator's thread.

Pulses are computed, not timed one by one, so the CPU stays idle between them: a phase
accumulator integrates frequency over clock time and every whole turn of it is one pulse.

- ``advance(seconds)`` moves a ``SimulatedClock`` forward pulse by pulse: exact timing,
  for tests on virtual time.
- ``start()`` runs a thread that wakes every ``tick_s`` real seconds and emits the pulses
  owed since the last wake. Pulses then carry the wake's time stamp, so a reading window
  may gain or lose up to ``f * tick_s * speedup`` pulses at its ends (speedup 1 on a real
  clock).

Faults (``sensors.emulators.faults``) from ``SENSORS.md`` section 6:

- ``STOPPED``: no pulses: a fouled or jammed wheel, or a cut wire (clear to return).
- ``BOUNCE``: every pulse comes with a second, bounced one.
- ``EMI``: ``emi_hz`` spurious pulses per second on top of the wheel's.
- ``DROP``: every other pulse is lost (an intermittent contact).
- ``DRIFT``: the wheel slows by ``amount`` (a fraction of its speed) per hour since
  injection, as growth on the axle would (default ``drift_per_day`` / 24).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gpiozero.pins.mock import MockPin

from sensors.clock import Clock, SimulatedClock
from sensors.emulators.faults import HOURS_PER_DAY, Fault, FaultInjection, FaultSet
from sensors.paddle_wheel import CalibrationTable


class PaddleWheelEmulator(FaultInjection):
    """Pulses ``pin`` at the rate ``table`` gives for ``true_speed()`` m/s."""

    SUPPORTED_FAULTS = frozenset({Fault.STOPPED, Fault.BOUNCE, Fault.EMI, Fault.DROP, Fault.DRIFT})

    def __init__(
        self,
        pin: MockPin,
        table: CalibrationTable,
        true_speed: Callable[[], float],
        clock: Clock,
        *,
        emi_hz: float = 200.0,
        drift_per_day: float = 0.1,
        tick_s: float = 0.01,
    ) -> None:
        self.pin = pin
        self.table = table
        self.true_speed = true_speed
        self.emi_hz = emi_hz
        self.tick_s = tick_s
        self.pulses = 0
        self._clock = clock
        self.faults = FaultSet(
            clock,
            "paddle wheel",
            self.SUPPORTED_FAULTS,
            {Fault.DRIFT: drift_per_day / HOURS_PER_DAY},
        )
        self._phase = 0.0
        self._dropped = False
        self._last = clock.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def frequency(self) -> float:
        """The pulse rate the pin sees now, in Hz, faults included."""
        if Fault.STOPPED in self.faults:
            return 0.0
        hz = self.table.frequency(max(0.0, self.true_speed()))
        hz *= max(0.0, 1.0 - self.faults.drift())
        if Fault.EMI in self.faults:
            hz += self.emi_hz
        return hz

    def advance(self, seconds: float) -> None:
        """Move the virtual clock on by ``seconds``, pulsing at each pulse's own instant."""
        if not isinstance(self._clock, SimulatedClock):
            raise TypeError("advance() needs a SimulatedClock; use start() on a real clock")
        remaining = seconds
        while remaining > 0:
            hz = self.frequency()
            step = remaining if hz <= 0 else min(remaining, (1.0 - self._phase) / hz)
            self._clock.advance(step)
            remaining -= step
            self._turn(hz * step)
        self._last = self._clock.monotonic()

    def start(self) -> None:
        """Pulse in a background thread against the clock, until ``close()``."""
        if self._thread is None:
            self._last = self._clock.monotonic()
            self._thread = threading.Thread(target=self._run, name="paddle-wheel", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread, if any; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> PaddleWheelEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            now = self._clock.monotonic()
            self._turn(self.frequency() * (now - self._last))
            self._last = now

    def _turn(self, turns: float) -> None:
        """Add ``turns`` of pulse phase; emit a pulse for every whole turn completed."""
        self._phase += turns
        while self._phase >= 1.0 - 1e-9:
            self._phase = max(0.0, self._phase - 1.0)
            self._pulse()
        self.pin.clear_states()  # MockPin keeps every edge otherwise: memory grows for ever

    def _pulse(self) -> None:
        self.pulses += 1
        if Fault.DROP in self.faults:
            self._dropped = not self._dropped
            if self._dropped:
                return
        for _ in range(2 if Fault.BOUNCE in self.faults else 1):
            self._edge()

    def _edge(self) -> None:
        if self.pin.pull == "up":
            self.pin.drive_low()
            self.pin.drive_high()
        else:
            self.pin.drive_high()
            self.pin.drive_low()
