"""Days of a buoy living by its power policy on a simulated reef's sun, cloudy week included.

The simulated reef (``sensors.simulation``) gives the sun and the clouds at the mooring; its own
battery model draws a constant load and so does not know what the policy switches off. This
therefore keeps its own small energy integrator: the pack starts at ``start_soc``, gains 0.92 x
the panel's power (the reef model's charge efficiency, and its curtailment when full) and
loses what the plan spends, by the plan's own energy costs: the base load and each held part
continuously, each sleeping part's read energy per read, each radio window and reading sent.
The policy sees the battery through the voltage a power monitor would read (the resting
voltage of the integrated charge plus current x pack resistance), not the true charge.

It executes each plan like the daemon would: a part is read at its scheduled instants, a
window opens at the plan's upload time, and the policy is asked again after every read of the
power monitor and after every window. An empty pack disconnects the load (the buoy is dark)
until the panel lifts it to ``RECONNECT_SOC``; then the buoy boots and plans afresh. During
the cloudy days the panel gives ``cloud_factor`` of what the reef's sky allows.

    .venv/bin/python bench/power_policy_days.py [--days 30] [--preset exposed-point]
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from buoy.power_policy import Mode, Part, PowerPlan, PowerReading, plan
from buoy.power_settings import DAY_S, PowerSettings
from sensors.ds18b20 import DS18B20
from sensors.ezo_ph import EzoPh
from sensors.gas_cells import GasCells
from sensors.gps import GpsReceiver
from sensors.ina219 import PowerMonitor
from sensors.paddle_wheel import PaddleWheel
from sensors.scd4x import Scd4x
from sensors.simulation import Reef, preset
from sensors.simulation.battery import resting_voltage
from sensors.turbidity import TurbidityProbe

START_UTC = 1_780_012_800.0  # 2026-05-29 00:00 UTC, 08:00 in Bali
BALI_OFFSET_S = 8 * 3600.0
CHARGE_EFFICIENCY = 0.92  # as the reef's battery model
SOLAR_STEP_S = 300.0  # the panel is integrated in steps no longer than this
POWER_MONITOR = "power_monitor"
RECONNECT_SOC = 0.05  # an emptied pack's load disconnect lets go again here (an assumption)

# The full kit of SENSORS.md, warm-ups from the drivers; the turbidity probe, the gas cells and
# the power monitors have no supply switch in [hardware], so they are always on.
FULL_KIT = (
    Part("ezo_ph", EzoPh.quantities, EzoPh.warmup_s, switched=True),
    Part("scd4x", Scd4x.quantities, Scd4x.warmup_s, switched=True),
    Part("turbidity", TurbidityProbe.quantities, TurbidityProbe.warmup_s, switched=False),
    Part("gas_cells", ("no2", "no"), GasCells.warmup_s, switched=False),
    Part(
        POWER_MONITOR,
        ("battery_voltage", "battery_current", "solar_power"),
        PowerMonitor.warmup_s,
        switched=False,
    ),
    Part("ds18b20", DS18B20.quantities, DS18B20.warmup_s, switched=True),
    Part("gps", GpsReceiver.quantities, GpsReceiver.warmup_s, switched=True),
    Part("paddle_wheel", PaddleWheel.quantities, PaddleWheel.warmup_s, switched=True),
)


@dataclass(frozen=True)
class Scenario:
    preset: str = "exposed-point"
    days: int = 30
    start_utc: float = START_UTC
    utc_offset_s: float = BALI_OFFSET_S
    start_soc: float = 0.8
    cloudy_from_day: int = 3
    cloudy_days: int = 7
    cloud_factor: float = 0.1
    parts: tuple[Part, ...] = FULL_KIT

    def panel_factor(self, utc: float) -> float:
        day = (utc - self.start_utc) / DAY_S
        in_cloud = self.cloudy_from_day <= day < self.cloudy_from_day + self.cloudy_days
        return self.cloud_factor if in_cloud else 1.0


@dataclass
class Run:
    """What happened: every plan, read, window and the lowest charge, for checks and figures."""

    plans: list[PowerPlan] = field(default_factory=list)
    reads: dict[str, list[float]] = field(default_factory=dict)
    uploads: list[float] = field(default_factory=list)
    min_soc: float = 1.0
    min_soc_utc: float = 0.0
    end_soc: float = 0.0
    hours_in_mode: dict[Mode, float] = field(default_factory=lambda: dict.fromkeys(Mode, 0.0))
    dark_hours: float = 0.0  # load disconnected: the pack was empty

    def decisions(self) -> list[float]:
        """Every decision instant the run covered in full (the first plan's morning onward)."""
        first = self.plans[0].morning.decision_utc
        end = self.plans[-1].made_utc
        return [first + k * DAY_S for k in range(int((end - first) // DAY_S) + 1)]

    def morning_met(self, decision_utc: float, lead_s: float) -> bool:
        """Whether a window before ``decision_utc`` carried a read of every part taken within
        ``lead_s`` before the decision."""
        start = decision_utc - lead_s
        for upload in self.uploads:
            if start <= upload <= decision_utc and all(
                any(start <= t <= upload for t in times) for times in self.reads.values()
            ):
                return True
        return False


class _Pack:
    """The integrated pack: charge from the panel, spend by the plan, clamped to 0..full."""

    def __init__(self, capacity_wh: float, soc: float) -> None:
        self._capacity_j = capacity_wh * 3600.0
        self.soc = soc
        self.net_w = 0.0

    def flow(self, dt: float, panel_w: float, load_w: float) -> None:
        self.net_w = CHARGE_EFFICIENCY * panel_w - load_w
        self.soc = min(1.0, max(0.0, self.soc + self.net_w * dt / self._capacity_j))

    def spend(self, joules: float) -> None:
        self.soc = max(0.0, self.soc - joules / self._capacity_j)

    def reading(
        self, utc: float, offset_s: float, panel_w: float, resistance: float
    ) -> PowerReading:
        rest = resting_voltage(self.soc)
        current = self.net_w / rest
        return PowerReading(utc, offset_s, rest + current * resistance, current, panel_w)


def simulate(scenario: Scenario, settings: PowerSettings) -> Run:
    """Drive the policy over ``scenario.days`` and record what it did."""
    sky = dataclasses.replace(
        preset(scenario.preset), battery_capacity_wh=10000.0, load_w=0.0, start_state_of_charge=0.5
    )  # a pack that never fills, so the reef reports the panel's power uncurtailed
    reef = Reef(sky, scenario.start_utc)
    parts = {p.name: p for p in scenario.parts}
    pack = _Pack(settings.capacity_wh, scenario.start_soc)
    run = Run(reads={name: [] for name in parts})
    now = scenario.start_utc
    end = now + scenario.days * DAY_S

    panel_cache: dict[float, float] = {}

    def panel_w(utc: float) -> float:
        if utc not in panel_cache:
            panel_cache[utc] = reef.state(utc).solar_power * scenario.panel_factor(utc)
        return panel_cache[utc]

    def replan(previous: PowerPlan | None) -> PowerPlan:
        reading = pack.reading(
            now, scenario.utc_offset_s, panel_w(now), settings.pack_resistance_ohm
        )
        return plan(reading, scenario.parts, settings, previous)

    def advance(until: float, load_w: float, mode: Mode | None) -> None:
        nonlocal now
        while now < until and (mode is None or pack.soc > 0.0):
            dt = min(SOLAR_STEP_S, until - now)
            pack.flow(dt, (panel_w(now) + panel_w(now + dt)) / 2, load_w)
            now += dt
            if mode is None:
                run.dark_hours += dt / 3600.0
            else:
                run.hours_in_mode[mode] += dt / 3600.0
            if pack.soc < run.min_soc:
                run.min_soc, run.min_soc_utc = pack.soc, now

    current = replan(None)
    run.plans.append(current)
    due = {s.name: s.next_read_utc for s in current.parts}
    pending = 0
    while now < end:
        if pack.soc <= 0.0:  # the load disconnect: dark until the panel lifts the pack
            while now < end and pack.soc < RECONNECT_SOC:
                advance(now + SOLAR_STEP_S, 0.0, None)
            current = replan(None)  # a cold boot: nothing of the last plan survives
            run.plans.append(current)
            due = {s.name: s.next_read_utc for s in current.parts}
            continue
        event = min(min(due.values()), current.upload.utc)
        held_w = settings.base_load_w + sum(
            settings.held_w.of(s.name) for s in current.parts if not s.sleeps
        )
        advance(event, held_w, current.mode)
        if now < event:
            continue  # the pack emptied on the way
        replanning = False
        for s in current.parts:
            if due[s.name] <= now:
                if s.sleeps:
                    pack.spend(settings.read_energy_j.of(s.name))
                run.reads[s.name].append(now)
                pending += 1
                due[s.name] += s.interval_s
                replanning = replanning or s.name == POWER_MONITOR
        if current.upload.utc <= now:
            sent = min(pending, current.upload.max_readings)
            pack.spend(settings.radio_window_j + settings.upload_reading_j * sent)
            pending -= sent
            run.uploads.append(now)
            replanning = True
        if pack.soc < run.min_soc:
            run.min_soc, run.min_soc_utc = pack.soc, now
        if replanning:
            current = replan(current)
            run.plans.append(current)
            due = {s.name: s.next_read_utc for s in current.parts}
    run.end_soc = pack.soc
    return run


def never_saving(settings: PowerSettings) -> PowerSettings:
    """``settings`` with no thresholds, floor or margin: a buoy that spends as in normal mode
    until the pack is nearly flat (the comparison for what the policy saves)."""
    return dataclasses.replace(
        settings,
        saving_below_soc=0.0,
        survival_below_soc=0.0,
        floor_soc=0.0,
        hysteresis_soc=0.0,
        reserve_margin=0.0,
    )


def summary(name: str, run: Run, settings: PowerSettings) -> list[str]:
    decisions = run.decisions()
    met = sum(run.morning_met(d, settings.morning_lead_s) for d in decisions)
    day = (run.min_soc_utc - run.plans[0].made_utc) / DAY_S
    modes = ", ".join(f"{m.name.lower()} {h / 24:.1f} d" for m, h in run.hours_in_mode.items())
    return [
        f"{name}:",
        f"  mornings met: {met} of {len(decisions)}",
        f"  lowest state of charge: {run.min_soc:.3f} (day {day:.1f}), "
        f"at the end {run.end_soc:.3f}",
        f"  radio windows: {len(run.uploads)}; plans: {len(run.plans)}, "
        f"{sum(not p.morning.assured for p in run.plans)} of them with the reserve short",
        f"  time in mode: {modes}, dark {run.dark_hours / 24:.1f} d",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=Scenario.days)
    parser.add_argument("--preset", default=Scenario.preset)
    parser.add_argument("--cloud-factor", type=float, default=Scenario.cloud_factor)
    args = parser.parse_args(argv)
    scenario = Scenario(preset=args.preset, days=args.days, cloud_factor=args.cloud_factor)
    settings = PowerSettings()
    print(
        f"{scenario.days} days at {scenario.preset} from state of charge {scenario.start_soc}, "
        f"panel x{scenario.cloud_factor} on days {scenario.cloudy_from_day}-"
        f"{scenario.cloudy_from_day + scenario.cloudy_days - 1}; floor {settings.floor_soc}"
    )
    for name, used in (("policy", settings), ("never saving", never_saving(settings))):
        print("\n".join(summary(name, simulate(scenario, used), settings)))


if __name__ == "__main__":
    main()
