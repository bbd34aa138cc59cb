"""Seeded random streams: why the simulated world is the same however it is sampled.

Every random draw comes from ``random.Random(f"{seed}/{kind}/{day}")``, one stream per kind of
event (rain, cloud, boats, gps, weather, tide) and local solar day, never from a shared
generator. A stream's draws depend on nothing but its name, so sensors sampled at any rate
and in any order see the same world, and a simulated clock can run it at any speed.
"""

from __future__ import annotations

import random


def stream(seed: int, kind: str, day: int) -> random.Random:
    """The random stream of ``kind`` for local solar day ``day`` of the world ``seed``."""
    return random.Random(f"{seed}/{kind}/{day}")
