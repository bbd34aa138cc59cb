"""A long outage: the link is gone while the buoy samples on, then it comes back.

The broker (and with it the ingest) is away while an accelerated reef is sampled; when it
returns, the newest reading must go out first, then the backlog drain completely, oldest to
newest, nothing lost or stored twice.

The outage lasts two and a half simulated hours, not the issue's seven days: the simulated
ADC's conversions fail (``StaleConversion``) at 1000x on a loaded machine and always at
4000x, and the daemon takes at most about two samples per real second however fast
its clock runs (its waits between cycles are real seconds), so seven simulated days would
take many minutes of real time for no larger backlog.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.brokers import Mosquitto
from tests.buoy.processes import Rig, report, wait_until

SPEEDUP = 300.0  # the fastest the simulated ADC starts reliably
OUTAGE_S = 30.0  # real seconds: two and a half simulated hours
MAX_BATCH = 10
PUBLISHED = re.compile(rb"published seq (\d+)\.\.(\d+)")


@dataclass(frozen=True)
class Outage:
    backlog: int  # readings waiting when the link came back
    newest: int  # the newest reading at that moment
    batches: list[tuple[int, int]]  # (first, last) seq of each batch after the link came back
    oldest: int  # the oldest reading waiting when the link came back
    drain_s: float
    rig: Rig


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    workdir = tmp_path_factory.mktemp("outage")
    (workdir / "mosquitto").mkdir()
    broker = Mosquitto(workdir / "mosquitto").start()
    rig = Rig(
        workdir,
        broker.port,
        sampling={"interval_s": 60.0},
        uplink={"resend_after_s": 3000.0, "max_batch": MAX_BATCH},
        simulation={"speedup": SPEEDUP},
    )
    try:
        rig.start_ingest()
        rig.start_buoy()
        rig.wait_stored({1, 2, 3}, 60, "the first readings")
        rig.stop_ingest()
        broker.stop()
        down_at = time.monotonic()
        wait_until(lambda: time.monotonic() - down_at > OUTAGE_S, OUTAGE_S + 5, "the outage")
        waiting = rig.waiting()
        backlog, newest = len(waiting), rig.issued()
        log_mark = rig.buoy_log.stat().st_size
        broker.start()
        back_at = time.monotonic()
        rig.start_ingest()
        rig.wait_stored(set(range(1, newest + 1)), 120, "the backlog to drain")
        drain_s = time.monotonic() - back_at
        with rig.buoy_log.open("rb") as log:
            log.seek(log_mark)
            batches = [(int(a), int(b)) for a, b in PUBLISHED.findall(log.read())]
        yield Outage(
            backlog,
            newest,
            batches,
            min(waiting),  # PUBACKed ones too: the outage outlasts resend_after_s
            drain_s,
            rig,
        )
    finally:
        rig.close()
        broker.stop()


@pytest.mark.slow
def test_backlog_after_an_outage_drains_completely_exactly_once(
    outage: Outage, record_property: Callable[[str, object], None]
) -> None:
    """Every reading taken before and during the outage is stored once after it."""
    rig = outage.rig
    report(record_property, "backlog after the outage (readings)", outage.backlog)
    report(record_property, "drain time (s)", round(outage.drain_s, 1))
    report(record_property, "drain rate (readings/s)", round(outage.backlog / outage.drain_s, 1))
    assert outage.backlog > 2 * MAX_BATCH, "the outage left too small a backlog to test"
    rig.stop_buoy()
    tally = rig.final_tally(timeout=60)
    assert tally.lost == [] and tally.duplicated == []


@pytest.mark.slow
def test_newest_reading_goes_out_first_when_the_link_returns(outage: Outage) -> None:
    """Live first: the first batch after an outage is the newest reading alone (taken when
    the link came back or just after, while the daemon reconnected), so the morning view is
    current; the backlog follows from its oldest reading."""
    first, last = outage.batches[0]
    assert first == last >= outage.newest
    # On a busy machine another live reading may go out before the backlog starts.
    backlog = [batch for batch in outage.batches if batch[0] < outage.newest]
    assert backlog[0][0] == outage.oldest
