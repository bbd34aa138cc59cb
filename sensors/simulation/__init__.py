"""A simulated reef for ``--simulate``: the physical truth behind the device emulators."""

from sensors.simulation.reef import QUANTITIES, Reef, ReefState
from sensors.simulation.settings import PRESETS, SimulationSettings, preset

__all__ = ["PRESETS", "QUANTITIES", "Reef", "ReefState", "SimulationSettings", "preset"]
