"""An EZO-pH circuit and its glass electrode, byte for byte, under ``FakeSMBus``.

Why: the real ``sensors.ezo_ph`` driver runs against it in tests and in ``--simulate``, and a
simulated reef drives it through zero-argument callables (``true_ph``, ``water_temperature_c``).

Protocol (SENSORS.md §1): ASCII commands, case-insensitive; the answer is
``code, payload, NUL, padding`` with code 1 success, 2 syntax error, 254 while the processing
delay (900 ms for R / RT,n / Cal points, 300 ms otherwise) has not elapsed on the injected
clock, 255 when nothing is pending. ``Sleep`` sends nothing back; a sleeping circuit NACKs
reads.

Physics: the electrode gives E = offset + drift + s·N(T)·(7 − pH) mV, where N(T) is the
Nernst slope 0.198416·(T + 273.15) mV/pH (59.16 at 25 °C), ``probe_offset_mv`` and
``probe_slope`` (1.0 = ideal) the electrode's own imperfection, T the true water temperature.
The circuit turns E back into pH with its calibration points and its compensation temperature
(``T,n`` / ``RT,n``; 25 °C at power-on), so an uncalibrated probe reads off, a midpoint
calibration removes the offset, low and high points correct the acid and base slopes, and a
wrong compensation temperature shows as a slope error.

Noise: a real electrode's potential is never still. The glass membrane is a 10-1000 MΩ source
(Hamilton, "measurement of potential difference"), so thermal noise and pickup reach the
circuit; an electrometer amplifier on a glass electrode still shows about 50 µV of noise
(Transient Response of the Glass Electrode to pH Step Variations). One 0.001 pH step of the
EZO's output is 0.059 mV at 25 °C, so the last digit of a live probe flickers. ``noise_mv`` is
the RMS of white Gaussian noise added to E at every measurement, drawn from a generator seeded
with ``noise_seed`` so a run repeats exactly; 0 (the default) gives the noiseless electrode the
byte-exact tests rely on.

Assumptions (⚠): a command wakes a sleeping circuit and is then carried out; ``Cal,low`` or
``Cal,high`` before ``Cal,mid`` is a syntax error; the payload is not clamped to 0–14 (as with
``pHext,1``); ``Status`` answers restart reason P and 3.30 V after power-on.

Faults (``sensors.emulators.faults``): NACK, STUCK (the first reading after injection again and
again), GARBAGE, SLOW (``amount`` seconds more per command, default 10 s), DRIFT (``amount`` mV/h
of electrode drift, default 1) and MSB_SET (bit 7 set on every payload byte, the Pi glitch of
[A10]).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from sensors.clock import Clock
from sensors.emulators.fake_smbus import nack
from sensors.emulators.faults import SLOW_S, Fault, FaultInjection, FaultSet

READ_S = 0.9
COMMAND_S = 0.3
SUCCESS, SYNTAX_ERROR, PENDING, NO_DATA = 1, 2, 254, 255
NOISE = bytes([0x37, 0x1F, 0x2E, 0x15, 0x0E])  # what line noise in a payload looks like
MV_PER_PH_PER_KELVIN = 0.198416  # ln(10)·R/F in mV/K
KELVIN = 273.15


def nernst_mv(celsius: float) -> float:
    """The ideal electrode slope, mV per pH unit, at ``celsius``."""
    return MV_PER_PH_PER_KELVIN * (celsius + KELVIN)


@dataclass
class _CalibrationPoints:
    mid_ph: float = 7.0
    mid_mv: float = 0.0
    acid_percent: float = 100.0
    base_percent: float = 100.0
    points: int = 0


@dataclass(frozen=True)
class _Answer:
    code: int
    payload: bytes
    ready_at: float


class EzoPhEmulator(FaultInjection):
    SUPPORTED_FAULTS = frozenset(
        {Fault.NACK, Fault.STUCK, Fault.GARBAGE, Fault.SLOW, Fault.DRIFT, Fault.MSB_SET}
    )

    def __init__(
        self,
        clock: Clock,
        true_ph: Callable[[], float] = lambda: 7.0,
        water_temperature_c: Callable[[], float] = lambda: 25.0,
        *,
        probe_offset_mv: float = 0.0,
        probe_slope: float = 1.0,
        firmware: str = "2.16",
        rt_supported: bool = True,
        noise_mv: float = 0.0,
        noise_seed: int = 0,
    ) -> None:
        if noise_mv < 0:
            raise ValueError(f"noise_mv is an RMS and cannot be negative: {noise_mv}")
        self.clock = clock
        self.faults = FaultSet(
            clock, "EZO-pH", self.SUPPORTED_FAULTS, {Fault.SLOW: SLOW_S, Fault.DRIFT: 1.0}
        )
        self.true_ph = true_ph
        self.water_temperature_c = water_temperature_c
        self.probe_offset_mv = probe_offset_mv
        self.probe_slope = probe_slope
        self.noise_mv = noise_mv
        self._noise = random.Random(noise_seed)
        self.firmware = firmware
        self.rt_supported = rt_supported
        self.calibration = _CalibrationPoints()  # kept in the circuit's EEPROM
        self.received: list[str] = []
        self.power_cycle()

    def power_cycle(self) -> None:
        """Power off and on: volatile state is lost, calibration survives."""
        self.compensation_c = 25.0
        self.asleep = False
        self._answer: _Answer | None = None
        self._restart_reason = "P"

    # -- the wire --------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if Fault.NACK in self.faults:
            raise nack()
        self.asleep = False
        text = data.decode("ascii", errors="replace")
        self.received.append(text)
        if text.lower() == "sleep":
            self._answer = None
            self.asleep = True
            return
        code, payload, delay = self._execute(text)
        ready_at = self.clock.monotonic() + delay + self.faults.amount(Fault.SLOW)
        self._answer = _Answer(code, payload, ready_at)

    def read(self, length: int) -> bytes:
        if Fault.NACK in self.faults or self.asleep:
            raise nack()
        answer = self._answer
        if answer is None:
            return bytes([NO_DATA]).ljust(length, b"\x00")
        if self.clock.monotonic() < answer.ready_at:
            return bytes([PENDING]).ljust(length, b"\x00")
        self._answer = None
        payload = answer.payload
        if Fault.GARBAGE in self.faults and payload:
            payload = NOISE
        if Fault.MSB_SET in self.faults:
            payload = bytes(byte | 0x80 for byte in payload)
        return (bytes([answer.code]) + payload + b"\x00").ljust(length, b"\x00")[:length]

    # -- commands --------------------------------------------------------------------------

    def _execute(self, text: str) -> tuple[int, bytes, float]:
        """Response code, payload and processing delay for one command."""
        parts = text.lower().split(",")
        try:
            return self._dispatch(parts)
        except ValueError:
            return SYNTAX_ERROR, b"", COMMAND_S

    def _dispatch(self, parts: list[str]) -> tuple[int, bytes, float]:
        match parts:
            case ["r"]:
                return SUCCESS, self._reading(), READ_S
            case ["rt", celsius] if self.rt_supported:
                self.compensation_c = float(celsius)
                return SUCCESS, self._reading(), READ_S
            case ["t", "?"]:
                return SUCCESS, f"?T,{self.compensation_c:.2f}".encode(), COMMAND_S
            case ["t", celsius]:
                self.compensation_c = float(celsius)
                return SUCCESS, b"", COMMAND_S
            case ["cal", "?"]:
                return SUCCESS, f"?Cal,{self.calibration.points}".encode(), COMMAND_S
            case ["cal", "clear"]:
                self.calibration = _CalibrationPoints()
                return SUCCESS, b"", COMMAND_S
            case ["cal", point, ph] if point in ("mid", "low", "high"):
                self._calibrate(point, float(ph))
                return SUCCESS, b"", READ_S
            case ["slope", "?"]:
                return SUCCESS, self._slope(), COMMAND_S
            case ["i"]:
                return SUCCESS, f"?i,pH,{self.firmware}".encode(), COMMAND_S
            case ["status"]:
                return SUCCESS, f"?Status,{self._restart_reason},3.30".encode(), COMMAND_S
        raise ValueError(f"unknown command {','.join(parts)!r}")

    # -- physics ---------------------------------------------------------------------------

    def electrode_mv(self) -> float:
        """E as the circuit measures it now, noise included: each call is one measurement."""
        slope = self.probe_slope * nernst_mv(self.water_temperature_c())
        ideal = self.probe_offset_mv + self.faults.drift() + slope * (7.0 - self.true_ph())
        return ideal + self._noise.gauss(0.0, self.noise_mv)

    def _circuit_ph(self, mv: float) -> float:
        cal = self.calibration
        percent = cal.acid_percent if mv > cal.mid_mv else cal.base_percent
        return cal.mid_ph + (cal.mid_mv - mv) / (percent / 100.0 * nernst_mv(self.compensation_c))

    def _reading(self) -> bytes:
        return self.faults.stuck(f"{self._circuit_ph(self.electrode_mv()):.3f}".encode())

    def _calibrate(self, point: str, ph: float) -> None:
        mv = self.electrode_mv()
        cal = self.calibration
        if point == "mid":
            self.calibration = _CalibrationPoints(mid_ph=ph, mid_mv=mv, points=1)
            return
        if cal.points == 0 or (point == "low") != (ph < cal.mid_ph):
            raise ValueError(f"Cal,{point} needs a midpoint on the other side first")
        percent = 100.0 * (cal.mid_mv - mv) / ((ph - cal.mid_ph) * nernst_mv(self.compensation_c))
        if point == "low":
            cal.acid_percent = percent
        else:
            cal.base_percent = percent
        cal.points = min(3, cal.points + 1)

    def _slope(self) -> bytes:
        cal = self.calibration
        side = cal.acid_percent if cal.mid_ph > 7.0 else cal.base_percent
        zero_mv = cal.mid_mv + (cal.mid_ph - 7.0) * side / 100.0 * nernst_mv(self.compensation_c)
        return f"?Slope,{cal.acid_percent:.1f},{cal.base_percent:.1f},{zero_mv:.2f}".encode()
