"""The power policy: from the battery, the sun and the clock to the buoy's schedule.

Why a pure function: the buoy must stay useful for months on what its panel gives it, and a
wrong schedule is only found out when the pack is flat. ``plan()`` does no I/O and reads no
clock, so every decision it makes can be replayed over simulated weeks (bench/
power_policy_days.py) and tested at chosen states.

What it promises:

- **Modes.** NORMAL, SAVING below ``saving_below_soc``, SURVIVAL below ``survival_below_soc``.
  A buoy steps up again only ``hysteresis_soc`` above a threshold, so a noisy voltage does not
  make it flap. Lower modes read less often, open fewer radio windows and let switched parts
  sleep between reads (a part is switched on ``warmup_s`` before each read).
- **Morning guarantee.** Every day, every part is read ``morning_lead_s`` before the site's
  decision time and one radio window follows ``cycle_s`` later, in every mode: the reads and
  windows of each mode lie on grids anchored at that morning cycle. A mode is allowed only if
  the energy above ``floor_soc`` covers that mode's draw until the morning window plus the
  morning cycle, with ``reserve_margin`` on top and no sun counted.
- **When even the reserve is not there** (SURVIVAL cannot cover it): the buoy stays in
  SURVIVAL, keeps the morning cycle as scheduled (it is the last thing given up: whatever the
  pack holds goes to it), marks the plan ``morning.assured = False``, and opens one radio
  window at once to say so, so that the dashboard can show "may go dark before the decision"
  instead of waiting for a report that never comes. Below the floor the pack's own
  low-voltage disconnect, not this policy, is what stops the buoy.
- **Announcement.** ``next_report_utc`` is when the dashboard next hears from the buoy; a new
  plan never moves it later than the previous plan announced, so "asleep as planned" stays
  true until then and silence after it means "lost".

The caller calls ``plan()`` after each read of the power monitor and after each radio window,
once the reads and windows due at ``utc`` are done; everything it schedules lies after ``utc``
except a window that must open at once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from buoy.power_settings import DAY_S, PowerSettings

# Resting voltage of a 4S LiFePO4 pack (V) at 0 %, 10 %, ..., 100 % state of charge: the
# commonly published 4 x 3.2 V chart. The plateau is flat (13.0-13.3 V holds 40-80 %), so a
# state of charge read from the voltage is coarse there; the hysteresis absorbs that.
LIFEPO4_REST_V = (10.0, 12.0, 12.8, 12.9, 13.0, 13.05, 13.1, 13.2, 13.3, 13.4, 13.6)


class Mode(IntEnum):
    """How much the buoy may spend; a higher value spends more."""

    SURVIVAL = 0
    SAVING = 1
    NORMAL = 2


@dataclass(frozen=True)
class Part:
    """A sensor as the policy sees it: its energy-table name, quantities, warm-up, switch."""

    name: str
    quantities: tuple[str, ...]
    warmup_s: float
    switched: bool  # has a supply switch (a power_pin); otherwise always on

    def __post_init__(self) -> None:
        if not self.quantities:
            raise ValueError(f"part {self.name!r} measures no quantity")
        if self.warmup_s < 0:
            raise ValueError(f"part {self.name!r}: warmup_s must be >= 0")


@dataclass(frozen=True)
class PowerReading:
    """What the power monitor says at ``utc``; ``utc_offset_s`` is the site's offset from UTC.

    The caller resolves the site's IANA zone into the offset. ``state_of_charge`` (0-1) may
    come from a fuel gauge; without one it is estimated from voltage and current.
    """

    utc: float
    utc_offset_s: float
    battery_voltage: float
    battery_current: float  # A, + charging
    solar_power: float  # W
    state_of_charge: float | None = None


@dataclass(frozen=True)
class PartPlan:
    """When to read one part, and whether it sleeps (is switched off) between reads."""

    name: str
    interval_s: float
    sleeps: bool
    next_read_utc: float
    power_on_utc: float | None  # switch on at this time for the next read; None: stays on


@dataclass(frozen=True)
class Upload:
    """One radio window: when, how many readings it may send, and in which order."""

    utc: float  # open the window at this time (at once when it is not after now)
    max_readings: int
    newest_first: bool  # survival drains the fresh readings; the backlog waits for sun


@dataclass(frozen=True)
class MorningCycle:
    """The day's full read and upload that must reach the dashboard before the decision."""

    decision_utc: float
    read_utc: float
    upload_utc: float
    power_on_utc: Mapping[str, float]  # every switched part, warm-up ahead of read_utc
    energy_j: float  # reads of every part + one window carrying them
    assured: bool  # the energy above the floor covers the reserve in SURVIVAL at least


@dataclass(frozen=True)
class PowerPlan:
    made_utc: float
    mode: Mode
    state_of_charge: float
    intervals_s: Mapping[str, float]  # per quantity
    parts: tuple[PartPlan, ...]
    powered: frozenset[str]  # parts that should be on at made_utc
    upload: Upload
    morning: MorningCycle

    @property
    def next_report_utc(self) -> float:
        """When the dashboard should next hear from the buoy: the next radio window."""
        return self.upload.utc


def state_of_charge(voltage: float, current: float, resistance_ohm: float) -> float:
    """The pack's state of charge (0-1) from its terminal voltage and current (+ charging).

    The resting voltage is the terminal voltage less current x internal resistance, looked up
    in ``LIFEPO4_REST_V`` by linear interpolation and clamped to 0-1.
    """
    rest = voltage - current * resistance_ohm
    table = LIFEPO4_REST_V
    if rest <= table[0]:
        return 0.0
    step = 1.0 / (len(table) - 1)
    for i in range(1, len(table)):
        if rest <= table[i]:
            return (i - 1 + (rest - table[i - 1]) / (table[i] - table[i - 1])) * step
    return 1.0


def plan(
    reading: PowerReading,
    parts: Sequence[Part],
    settings: PowerSettings,
    previous: PowerPlan | None = None,
) -> PowerPlan:
    """The schedule from ``reading.utc`` on; ``previous`` is the last plan, for hysteresis."""
    now = reading.utc
    soc = reading.state_of_charge
    if soc is None:
        soc = state_of_charge(
            reading.battery_voltage, reading.battery_current, settings.pack_resistance_ohm
        )
    kit = _kit(tuple(parts), settings)
    decision, read_at, upload_at = _next_morning(now, reading.utc_offset_s, settings)
    budget = _Budget(kit, soc, upload_at - now)

    mode = _choose_mode(budget, previous)
    was_assured = previous is None or previous.morning.assured
    assured = budget.allows(Mode.SURVIVAL, raise_bar=not was_assured)
    schedules = tuple(kit.part_plan(i, mode, now, read_at) for i in range(len(kit.parts)))
    upload = _upload(kit, mode, reading, upload_at, previous)
    if not assured and was_assured:
        upload = Upload(now, upload.max_readings, upload.newest_first)
    morning = MorningCycle(
        decision_utc=decision,
        read_utc=read_at,
        upload_utc=upload_at,
        power_on_utc=MappingProxyType(
            {p.name: read_at - p.warmup_s for p in kit.parts if p.switched}
        ),
        energy_j=kit.morning_j,
        assured=assured,
    )
    return PowerPlan(
        made_utc=now,
        mode=mode,
        state_of_charge=soc,
        intervals_s=kit.quantity_intervals_s[mode],
        parts=schedules,
        powered=frozenset(
            s.name for s in schedules if s.power_on_utc is None or s.power_on_utc <= now
        ),
        upload=upload,
        morning=morning,
    )


def mode_power_w(mode: Mode, parts: Sequence[Part], settings: PowerSettings) -> float:
    """The mean draw (W) of the buoy in ``mode``: base load, held parts, reads and windows."""
    return _kit(tuple(parts), settings).power_w[mode]


def upload_interval_s(mode: Mode, settings: PowerSettings) -> float:
    """Seconds between radio windows in ``mode`` (before the sun's allowance in SAVING)."""
    return {
        Mode.NORMAL: settings.normal_upload_s,
        Mode.SAVING: settings.saving_upload_s,
        Mode.SURVIVAL: settings.survival_upload_s,
    }[mode]


@functools.lru_cache(maxsize=8)
def _kit(parts: tuple[Part, ...], settings: PowerSettings) -> _Kit:
    """The kit for these parts and settings; a buoy plans with the same ones all its life."""
    return _Kit(parts, settings)


class _Kit:
    """The parts' read intervals, sleep and energy in each mode, worked out once.

    A part is read as often as its most frequently wanted quantity asks. It sleeps between
    reads only when it has a switch and would stay off at least ``min_sleep_s`` after its
    warm-up; a sleeping part costs its read energy per read, any other its held draw.
    """

    def __init__(self, parts: Sequence[Part], settings: PowerSettings) -> None:
        if not parts:
            raise ValueError("a plan needs at least one part")
        self.parts = tuple(parts)
        self.settings = settings
        self.interval_s = {
            mode: [min(_interval(q, mode, settings) for q in p.quantities) for p in self.parts]
            for mode in Mode
        }
        self.read_j = [settings.read_energy_j.of(p.name) for p in self.parts]
        self.held_w = [settings.held_w.of(p.name) for p in self.parts]
        switched_j = sum(j for p, j in zip(self.parts, self.read_j, strict=True) if p.switched)
        self.morning_j = (
            switched_j + settings.radio_window_j + settings.upload_reading_j * len(self.parts)
        )
        self.power_w = {mode: self._power_w(mode) for mode in Mode}
        self.quantity_intervals_s = {
            mode: MappingProxyType(
                {q: _interval(q, mode, settings) for p in self.parts for q in p.quantities}
            )
            for mode in Mode
        }

    def sleeps(self, i: int, mode: Mode) -> bool:
        part = self.parts[i]
        gap = self.interval_s[mode][i] - part.warmup_s
        return part.switched and gap >= self.settings.min_sleep_s

    def readings_per_window(self, mode: Mode, window_s: float) -> int:
        """Readings the parts produce between two windows, each part's read counted as one."""
        return sum(math.ceil(window_s / interval) for interval in self.interval_s[mode])

    def _power_w(self, mode: Mode) -> float:
        """The mean draw (W) in ``mode``: base load, held parts, reads and windows."""
        s = self.settings
        power = s.base_load_w
        for i in range(len(self.parts)):
            if self.sleeps(i, mode):
                power += self.read_j[i] / self.interval_s[mode][i]
            else:
                power += self.held_w[i]
        window_s = upload_interval_s(mode, s)
        window_j = s.radio_window_j + s.upload_reading_j * self.readings_per_window(mode, window_s)
        return power + window_j / window_s

    def part_plan(self, i: int, mode: Mode, now: float, read_at: float) -> PartPlan:
        """Part ``i``'s reads in ``mode`` on a grid through the morning read."""
        interval = self.interval_s[mode][i]
        next_read = _after(now, read_at, interval)
        asleep = self.sleeps(i, mode)
        return PartPlan(
            name=self.parts[i].name,
            interval_s=interval,
            sleeps=asleep,
            next_read_utc=next_read,
            power_on_utc=next_read - self.parts[i].warmup_s if asleep else None,
        )


class _Budget:
    """Whether the energy above the floor covers a mode until the morning, with margins."""

    def __init__(self, kit: _Kit, soc: float, until_morning_s: float) -> None:
        self._kit = kit
        self._soc = soc
        self._until_morning_s = until_morning_s

    def need_soc(self, mode: Mode) -> float:
        """The state of charge that carries ``mode`` to the morning window and pays for it."""
        s = self._kit.settings
        spend_j = self._kit.power_w[mode] * self._until_morning_s + self._kit.morning_j
        return s.floor_soc + spend_j * (1.0 + s.reserve_margin) / (s.capacity_wh * 3600.0)

    def allows(self, mode: Mode, *, raise_bar: bool) -> bool:
        """Whether the state of charge clears ``mode``'s bar (its threshold and its need),
        lifted by the hysteresis when the buoy would be stepping up to it."""
        s = self._kit.settings
        threshold = {
            Mode.NORMAL: s.saving_below_soc,
            Mode.SAVING: s.survival_below_soc,
            Mode.SURVIVAL: s.floor_soc,
        }[mode]
        bar = max(threshold, self.need_soc(mode))
        return self._soc >= bar + (s.hysteresis_soc if raise_bar else 0.0)


def _choose_mode(budget: _Budget, previous: PowerPlan | None) -> Mode:
    for mode in (Mode.NORMAL, Mode.SAVING):
        stepping_up = previous is not None and previous.mode < mode
        if budget.allows(mode, raise_bar=stepping_up):
            return mode
    return Mode.SURVIVAL


def _next_morning(
    now: float, utc_offset_s: float, settings: PowerSettings
) -> tuple[float, float, float]:
    """(decision, read, upload) UTC of the first morning whose upload is still ahead."""
    local_midnight = math.floor((now + utc_offset_s) / DAY_S) * DAY_S - utc_offset_s
    decision = local_midnight + settings.decision_s
    while decision - settings.morning_lead_s + settings.cycle_s <= now:
        decision += DAY_S
    read_at = decision - settings.morning_lead_s
    return decision, read_at, read_at + settings.cycle_s


def _interval(quantity: str, mode: Mode, settings: PowerSettings) -> float:
    if mode is Mode.NORMAL:
        factor = 1.0
    elif mode is Mode.SAVING:
        factor = settings.saving_interval_factor
    else:
        factor = settings.survival_interval_factor
    return min(DAY_S, settings.intervals.of(quantity) * factor)


def _after(now: float, anchor: float, step: float) -> float:
    """The first instant after ``now`` on the grid ``anchor + k x step`` (k any integer)."""
    return anchor + (math.floor((now - anchor) / step) + 1) * step


def _upload(
    kit: _Kit, mode: Mode, reading: PowerReading, upload_at: float, previous: PowerPlan | None
) -> Upload:
    """The next radio window on the mode's grid through the morning window, never later than
    the window the previous plan announced."""
    s = kit.settings
    window_s = upload_interval_s(mode, s)
    if mode is Mode.SAVING and reading.solar_power >= s.sun_pays_w:
        window_s = s.normal_upload_s
    utc = _after(reading.utc, upload_at, window_s)
    if previous is not None and reading.utc < previous.next_report_utc < utc:
        utc = previous.next_report_utc
    if mode is Mode.SURVIVAL:
        return Upload(utc, kit.readings_per_window(mode, window_s), True)
    return Upload(utc, s.max_drain_readings, False)
