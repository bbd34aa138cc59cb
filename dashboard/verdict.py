"""The dive verdict for one reef: go, caution, no-go or unknown, with the reasons in words.

A dive-shop owner decides on the pier from this, so it promises three things:

- It never says go on data it cannot trust. A required input that is missing, older than the
  reef's maximum age, failed by QC (QARTOD flag 4, or 9 "missing"), or reported bad by its
  sensor (any status but OK) is *unknown*, and an unknown required input makes the verdict
  unknown. Values QC marks suspect (flag 3) are used, and their reason says so.
- Precedence follows ``Level``'s order: no-go beats unknown beats caution beats go. A no-go
  from a fresh, usable input stands even when another input is unknown (more data could not
  make the dive safe); a stale no-go is only unknown.
- Every reason names the quantity, its value with unit, the threshold it was compared with,
  the level it implies and the input's age, so the page can show why, not only what.

Pure: no clock, no database. The caller passes the latest reading per quantity, the time of
evaluation and the reef's rules (``dashboard.verdict_rules``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from dashboard.verdict_rules import Limits, VerdictRules
from nemopi.sensor_status import SensorStatus

# QARTOD flag values (the dashboard's QC writes these); only the ones the verdict acts on.
QC_PASS = 1
QC_NOT_EVALUATED = 2
QC_SUSPECT = 3
QC_FAIL = 4
QC_MISSING = 9
QC_FLAGS = (QC_PASS, QC_NOT_EVALUATED, QC_SUSPECT, QC_FAIL, QC_MISSING)

# A reading stamped later than this after the evaluation time has a clock problem: it is not
# taken as fresh (a timestamp in the future would otherwise stay "fresh" for ever).
CLOCK_TOLERANCE = timedelta(minutes=5)


class Level(IntEnum):
    """A verdict level, ordered by precedence: the verdict is the highest of its reasons.

    Each level has a word, a shape and a colour, so that the page never relies on colour
    alone (a red-green colour-blind skipper reads the shape and the word).
    """

    GO = 0
    CAUTION = 1
    UNKNOWN = 2
    NO_GO = 3

    @property
    def text(self) -> str:
        """The word for the level, as a reason ends with it: "go", "no-go"."""
        return _LOOK[self][0]

    @property
    def shape(self) -> str:
        """The symbol the page draws: circle, triangle (warning sign), diamond, octagon (stop)."""
        return _LOOK[self][1]

    @property
    def colour(self) -> str:
        """The colour name the page styles the symbol with."""
        return _LOOK[self][2]


_LOOK = {
    Level.GO: ("go", "circle", "green"),
    Level.CAUTION: ("caution", "triangle", "amber"),
    Level.UNKNOWN: ("unknown", "diamond", "grey"),
    Level.NO_GO: ("no-go", "octagon", "red"),
}


@dataclass(frozen=True)
class Reading:
    """The latest reading of one quantity: its value, time (timezone-aware), QC flag, status."""

    value: float | None
    time: datetime
    qc_flag: int = QC_NOT_EVALUATED
    status: SensorStatus = SensorStatus.OK

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("a reading's time must be timezone-aware")
        if self.qc_flag not in QC_FLAGS:
            raise ValueError(f"QC flag {self.qc_flag!r} is not a QARTOD flag {QC_FLAGS}")
        object.__setattr__(self, "status", SensorStatus(self.status))  # an int from storage


@dataclass(frozen=True)
class Reason:
    """Why one input implies its level, in numbers and in words.

    ``threshold`` is the limit that decided the level (for go, the nearest limit the value is
    within); None when there is no usable value. ``age`` is None when there is no reading.
    """

    quantity: str
    level: Level
    value: float | None
    unit: str
    threshold: float | None
    age: timedelta | None
    suspect: bool
    text: str


@dataclass(frozen=True)
class Verdict:
    """The verdict for one reef: the worst level among its reasons, reasons worst first."""

    level: Level
    reasons: tuple[Reason, ...]


def evaluate(latest: Mapping[str, Reading], now: datetime, rules: VerdictRules) -> Verdict:
    """The verdict from the latest reading per quantity name at time ``now``.

    Quantities without a rule are ignored. A rule's quantity that is not required and has no
    usable reading gives no reason at all: the reef does not depend on it. With no reason at
    all the verdict is unknown.
    """
    if now.tzinfo is None:
        raise ValueError("the evaluation time must be timezone-aware")
    max_age = timedelta(minutes=rules.max_input_age_min)
    reasons = []
    for limits in rules.limits():
        reason = _reason(limits, latest.get(limits.quantity), now, max_age)
        if reason.level is not Level.UNKNOWN or limits.quantity in rules.required:
            reasons.append(reason)
    reasons.sort(key=lambda r: r.level, reverse=True)  # stable: rule order within a level
    level = reasons[0].level if reasons else Level.UNKNOWN
    return Verdict(level, tuple(reasons))


def describe_age(age: timedelta) -> str:
    """An age as a person says it: "under 1 min", "45 min", "2 h 5 min", "3 days"."""
    minutes = int(age.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if minutes < 1:
        return "under 1 min"
    if hours < 1:
        return f"{minutes} min"
    if hours >= 48:
        return f"{hours // 24} days"
    return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"


def _reason(limits: Limits, reading: Reading | None, now: datetime, max_age: timedelta) -> Reason:
    if reading is None:
        return _unknown(limits, None, None, "no reading")
    age = max(now - reading.time, timedelta(0))
    if reading.time - now > CLOCK_TOLERANCE:
        return _unknown(limits, reading, age, "reading time is ahead of the clock")
    if age > max_age:
        # The limit, not the age: the age is shown beside every reason, and words that
        # changed each minute would change the page's ETag each minute too.
        why = f"last reading older than {describe_age(max_age)}"
        return _unknown(limits, reading, age, why)
    if reading.status is not SensorStatus.OK:
        status = reading.status.name.lower().replace("_", " ")
        return _unknown(limits, reading, age, f"sensor {status}")
    if reading.qc_flag == QC_FAIL:
        return _unknown(limits, reading, age, "last reading failed quality control")
    if reading.value is None or reading.qc_flag == QC_MISSING:
        return _unknown(limits, reading, age, "no value in the last reading")
    level, threshold, phrase = _judge(limits, reading.value)
    suspect = reading.qc_flag == QC_SUSPECT
    text = f"{limits.label} {_amount(reading.value, limits)} ({phrase}): {level.text}"
    if suspect:
        text += "; reading marked suspect by quality control"
    return Reason(limits.quantity, level, reading.value, limits.unit, threshold, age, suspect, text)


def _unknown(limits: Limits, reading: Reading | None, age: timedelta | None, why: str) -> Reason:
    value = reading.value if reading else None
    text = f"{limits.label}: {why}: {Level.UNKNOWN.text}"
    return Reason(limits.quantity, Level.UNKNOWN, value, limits.unit, None, age, False, text)


def _judge(limits: Limits, value: float) -> tuple[Level, float | None, str]:
    """The level a usable value implies, the limit that decided it, and that limit in words."""
    tests = (
        (limits.no_go_below, value.__lt__, Level.NO_GO, "minimum"),
        (limits.no_go_above, value.__gt__, Level.NO_GO, "maximum"),
        (limits.caution_below, value.__lt__, Level.CAUTION, "below"),
        (limits.caution_above, value.__gt__, Level.CAUTION, "above"),
    )
    for bound, beyond, level, word in tests:
        if bound is not None and beyond(bound):
            return level, bound, f"{word} {_amount(bound, limits)}"
    low = limits.caution_below if limits.caution_below is not None else limits.no_go_below
    high = limits.caution_above if limits.caution_above is not None else limits.no_go_above
    if low is not None and high is not None:
        nearest = low if value - low <= high - value else high
        return Level.GO, nearest, f"{_number(low, limits)} to {_amount(high, limits)}"
    if low is not None:
        return Level.GO, low, f"{_amount(low, limits)} or more"
    assert high is not None  # Limits has at least one bound
    return Level.GO, high, f"{_amount(high, limits)} or less"


def _number(value: float, limits: Limits) -> str:
    """``value`` at the rule's precision without trailing zeros: 4.0 -> "4", 0.95 -> "0.95"."""
    text = f"{value:.{limits.decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _amount(value: float, limits: Limits) -> str:
    return f"{_number(value, limits)} {limits.unit}"
