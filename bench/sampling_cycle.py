"""What one sampling cycle of a simulated buoy costs in CPU: every driver against its emulator.

Three simulated buoys share a 2-core machine in the demo, and the buoy itself is a Pi Zero W,
so a cycle must stay cheap. This builds one buoy (``sensors.simulation.assemble``) on virtual
time, so that the drivers' waits cost nothing and only CPU is measured, warms it up, and
times ``--cycles`` full cycles with ``time.process_time`` (every thread of the process: the
drivers, the emulators under them, the simulated reef). It then times each sensor alone,
and the idle CPU of the emulators' threads on a clock that runs in real time.

    .venv/bin/python bench/sampling_cycle.py [--cycles 200] [--preset sheltered-bay]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sensors.clock import SimulatedClock
from sensors.gas_cells import GasCells
from sensors.simulation import PRESETS, preset
from sensors.simulation.assemble import SimulatedInstruments, build_simulated_sensors

START_UTC = 1_780_021_600.0  # 2026-05-29 02:26 UTC: mid-morning in Bali
PI_ZERO_SLOWDOWN = (15, 20)  # a Pi Zero W (1 GHz ARMv6) against this machine, roughly


def cpu_ms(action: Callable[[], object]) -> float:
    started = time.process_time()
    action()
    return (time.process_time() - started) * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def full_cycle(instruments: SimulatedInstruments) -> None:
    for sensor in instruments.sensors:
        sensor.read()


def measure_cycles(instruments: SimulatedInstruments, cycles: int) -> None:
    instruments.clock.advance(GasCells.warmup_s)
    full_cycle(instruments)  # the first warm cycle starts the SCD4x and fills caches
    costs = [cpu_ms(lambda: full_cycle(instruments)) for _ in range(cycles)]
    median, p95 = statistics.median(costs), percentile(costs, 0.95)
    print(f"full cycle, {len(instruments.sensors)} sensors, {cycles} cycles (CPU ms):")
    print(f"  median {median:.2f}  p95 {p95:.2f}  min {min(costs):.2f}  max {max(costs):.2f}")
    low, high = PI_ZERO_SLOWDOWN
    print(
        f"  a Pi Zero W is roughly {low}-{high}x slower than this machine: about "
        f"{median * low:.0f}-{median * high:.0f} ms of CPU per cycle there (median)"
    )
    print("per sensor (median CPU ms of 50 reads):")
    for sensor in instruments.sensors:
        each = [cpu_ms(sensor.read) for _ in range(50)]
        print(f"  {sensor.name:26s} {statistics.median(each):7.3f}")


def measure_idle(settings_name: str, workdir: Path, seconds: float) -> None:
    clock = SimulatedClock(START_UTC, speedup=1.0)
    with build_simulated_sensors(preset(settings_name), clock, workdir / "idle") as instruments:
        cost = cpu_ms(lambda: time.sleep(seconds))
        site = instruments.reef.settings.site
        print(f"idle emulator threads on a real-time clock ({seconds:.0f} s, {site}):")
        print(f"  {cost / seconds / 10:.2f} % of one core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="sheltered-bay")
    parser.add_argument("--idle-s", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        clock = SimulatedClock(START_UTC, speedup=0)
        with build_simulated_sensors(preset(args.preset), clock, workdir / "cycles") as buoy:
            measure_cycles(buoy, args.cycles)
        measure_idle(args.preset, workdir, args.idle_s)


if __name__ == "__main__":
    main()
