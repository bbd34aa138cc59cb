"""Reconnect waits: exponential growth with full jitter.

When a broker restarts, every buoy loses its link at the same instant. Waits that only double
would bring the whole fleet back in lock-step, each round a thundering herd; drawing each wait
at random between ``min_s`` and a ceiling that starts at ``2 * min_s`` and doubles per failure
(up to ``max_s``) spreads them out from the first attempt on.
"""

from __future__ import annotations

import random


class Backoff:
    """The waits before successive reconnect attempts; ``reset()`` after a good connection."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"need 0 < min_s <= max_s, got {min_s}, {max_s}")
        self.min_s = min_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self._failures = 0

    def next_wait(self) -> float:
        """Seconds to wait before the next attempt, in ``[min_s, ceiling]``."""
        ceiling = min(self.max_s, self.min_s * 2.0 ** min(self._failures + 1, 62))
        self._failures += 1
        return self._rng.uniform(self.min_s, ceiling)

    def reset(self) -> None:
        self._failures = 0
