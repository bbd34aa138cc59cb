"""How much the buoy sends at a time, and how fast it drains a backlog.

Why: after an outage the buoy may hold days of readings, and the link that came back may be a
good one or one bar of cellular. A batch that is too large for a poor link times out and is
sent again whole, paying its airtime twice; a batch that is too small wastes a round trip per
reading on a good one. And draining costs energy, which the power policy rations.

The rules (docs/delivery.md):

* **Batch size** starts at 1 on every new connection and follows the broker's PUBACKs: a full
  batch acknowledged within ``fast_ack_s`` doubles it (up to ``max_batch``); a slower
  acknowledgement halves it; none at all (the batch is sent again) sets it back to 1.
* **Drain rate**: after a backlog batch of n readings the next one may start no earlier than
  n / ``drain_rate`` seconds later (0 = no limit). Live readings, the ones taken since the last
  batch was chosen, are never held back by it.

Pure: no clock reads, no I/O; the caller passes its monotonic time.
"""

from __future__ import annotations


class Pacer:
    """Batch size and backlog rate for one buoy's delivery."""

    def __init__(self, max_batch: int, fast_ack_s: float, drain_rate: float) -> None:
        if max_batch < 1 or fast_ack_s <= 0 or drain_rate < 0:
            raise ValueError(
                f"bad pacing: max_batch={max_batch}, fast_ack_s={fast_ack_s}, "
                f"drain_rate={drain_rate}"
            )
        self.max_batch = max_batch
        self.fast_ack_s = fast_ack_s
        self.drain_rate = drain_rate
        self.size = 1
        self._backlog_from = float("-inf")

    def connected(self) -> None:
        """A new link: nothing is known about it yet, so start again from one reading."""
        self.size = 1

    def acked(self, batch_len: int, after_s: float) -> None:
        """The broker acknowledged a batch of ``batch_len`` readings ``after_s`` after it left."""
        if after_s > self.fast_ack_s:
            self.size = max(1, self.size // 2)
        elif batch_len >= self.size:  # only a full batch shows the link could carry more
            self.size = min(self.max_batch, self.size * 2)

    def timed_out(self) -> None:
        """A batch got no acknowledgement at all and will be sent again."""
        self.size = 1

    def backlog_allowed(self, now: float) -> bool:
        """Whether a backlog batch may leave at monotonic time ``now``."""
        return now >= self._backlog_from

    def backlog_sent(self, batch_len: int, now: float) -> None:
        """A backlog batch of ``batch_len`` readings left at ``now``."""
        if self.drain_rate > 0:
            self._backlog_from = now + batch_len / self.drain_rate
