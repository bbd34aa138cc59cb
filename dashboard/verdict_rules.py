"""The dive verdict's rules: thresholds per reef, as settings of a ``[verdict]`` table.

The thresholds are configuration, not code, because what is a good dive differs from reef to
reef: a sheltered house reef and a channel with drift dives need different current limits.
``VerdictSettings`` is the ``[verdict]`` table (loadable with ``nemopi.configfile.from_mapping``):
its keys are the rules for every reef, and each ``[[verdict.sites]]`` entry overrides some of
them for one buoy's reef. ``VerdictSettings.for_site`` gives the rules that apply to a buoy.

Why the defaults are what they are (a shallow, guided recreational reef dive in South-East
Asia, where 26-30 °C water and 10-30 m visibility are usual):

- Visibility: at 10 m or more a guide keeps a group of four to six in sight and divers keep
  buddy contact without effort: go. Between 5 and 10 m buddies must stay close and a group
  spreads out of sight: caution. Below 5 m divers lose each other and the guide, and a diver
  who surfaces away from the group is hard to spot: no-go.
- Current: 0.5 m/s is about 1 knot, roughly what an average recreational diver can fin against
  for a few minutes without exhausting their air: go up to that. Up to 1 m/s (about 2 knots)
  only a planned drift dive with a boat following is reasonable: caution. Above 1 m/s divers
  cannot hold position or reach a mooring line: no-go.
- Water temperature: below 24 °C on these reefs means an upwelling or a cold thermocline,
  which often comes with strong currents and needs thicker suits; above 31 °C is a heat event
  (corals under stress, divers overheating in their suits between dives). Neither stops a
  dive; both deserve a word of caution.
- Age: the buoy samples every few minutes and visibility and current follow the tide, which
  turns about every six hours; a reading older than 2 h may belong to another tidal phase.

The other catalogue quantities (pH, CO2, NOx, position, power) say nothing about whether a dive
is safe, and waves are not measured, so they have no rule here.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from nemopi.catalogue import by_name
from nemopi.configfile import Check, in_range, setting
from nemopi.topics import is_valid_buoy_id

MAX_AGE_LIMIT_MIN = 24 * 60


def _catalogue_range(quantity: str) -> Check:
    """A threshold must be a value the quantity can physically take."""
    q = by_name(quantity)
    return in_range(q.valid_min, q.valid_max)


@dataclass(frozen=True)
class Limits:
    """The thresholds for one quantity, in the order a value is tested against them.

    A bound left as None is not tested. Below ``no_go_below`` or above ``no_go_above`` is
    no-go; below ``caution_below`` or above ``caution_above`` is caution; a value equal to a
    bound is on the better side of it.
    """

    quantity: str
    label: str
    unit: str
    decimals: int
    no_go_below: float | None = None
    caution_below: float | None = None
    caution_above: float | None = None
    no_go_above: float | None = None

    def __post_init__(self) -> None:
        lows = [b for b in (self.no_go_below, self.caution_below) if b is not None]
        highs = [b for b in (self.caution_above, self.no_go_above) if b is not None]
        if not lows and not highs:
            raise ValueError(f"{self.label}: a rule needs at least one limit")
        if lows != sorted(lows) or highs != sorted(highs):
            raise ValueError(f"{self.label}: a no-go limit lies inside its caution limit")
        if lows and highs and max(lows) >= min(highs):
            raise ValueError(f"{self.label}: the lower limits must lie below the upper limits")


@dataclass(frozen=True)
class VerdictRules:
    """The rules for one reef: thresholds per quantity, the inputs it needs, their maximum age."""

    max_input_age_min: int = setting(
        120,
        doc=(
            "A reading older than this many minutes is stale: it never counts as go, and a "
            "required input that is stale makes the verdict unknown."
        ),
        check=in_range(1, MAX_AGE_LIMIT_MIN),
    )
    visibility_caution_below_m: float = setting(
        10.0,
        doc="Visibility below this many metres is caution; at or above it, go.",
        check=_catalogue_range("visibility"),
    )
    visibility_no_go_below_m: float = setting(
        5.0,
        doc="Visibility below this many metres is no-go.",
        check=_catalogue_range("visibility"),
    )
    current_caution_above_m_s: float = setting(
        0.5,
        doc="Current speed above this many metres per second is caution; at or below it, go.",
        check=_catalogue_range("current_speed"),
    )
    current_no_go_above_m_s: float = setting(
        1.0,
        doc="Current speed above this many metres per second is no-go.",
        check=_catalogue_range("current_speed"),
    )
    water_temperature_caution_below_c: float = setting(
        24.0,
        doc="Water colder than this (°C) is unusual for the reef: caution.",
        check=_catalogue_range("water_temperature"),
    )
    water_temperature_caution_above_c: float = setting(
        31.0,
        doc="Water warmer than this (°C) is unusual for the reef: caution.",
        check=_catalogue_range("water_temperature"),
    )
    required: tuple[str, ...] = setting(
        ("visibility", "current_speed", "water_temperature"),
        doc=(
            "Quantities the verdict cannot do without: when one is missing, stale, failed by "
            "QC or reported bad by its sensor, the verdict is unknown (unless another input "
            "says no-go). Leave out what the reef's buoy does not measure."
        ),
    )

    def __post_init__(self) -> None:
        known = [limits.quantity for limits in self.limits()]  # Limits checks its own order
        unknown = [q for q in self.required if q not in known]
        if unknown:
            raise ValueError(f"required: {unknown} have no rule (known: {', '.join(known)})")
        if len(set(self.required)) != len(self.required):
            raise ValueError("required: a quantity is listed twice")

    def limits(self) -> tuple[Limits, ...]:
        """The rule table the verdict walks, one row per quantity, built from the settings."""
        return (
            Limits(
                "visibility",
                "Visibility",
                "m",
                1,
                no_go_below=self.visibility_no_go_below_m,
                caution_below=self.visibility_caution_below_m,
            ),
            Limits(
                "current_speed",
                "Current",
                "m/s",
                2,
                caution_above=self.current_caution_above_m_s,
                no_go_above=self.current_no_go_above_m_s,
            ),
            Limits(
                "water_temperature",
                "Water temperature",
                "°C",
                1,
                caution_below=self.water_temperature_caution_below_c,
                caution_above=self.water_temperature_caution_above_c,
            ),
        )


RULE_NAMES = tuple(f.name for f in dataclasses.fields(VerdictRules))


def _buoy_check(value: str) -> str | None:
    return None if is_valid_buoy_id(value) else f"not a valid buoy id: {value!r}"


def _site_rules_schema() -> type:
    """``[[verdict.sites]]``: a buoy id and any of the rules, each optional.

    Made from ``VerdictRules`` so that a new rule is overridable per site without writing it
    twice; a key left out keeps the ``[verdict]`` value, not the built-in default.
    """
    hints = typing.get_type_hints(VerdictRules)
    fields: list[tuple[str, Any, Any]] = [
        ("buoy", str, setting(doc="Buoy id of the reef these rules are for.", check=_buoy_check))
    ]
    for f in dataclasses.fields(VerdictRules):
        doc = f"This reef's `{f.name}`; not set: the value of the [verdict] table."
        fields.append(
            (f.name, hints[f.name] | None, setting(None, doc=doc, check=f.metadata["check"]))
        )
    schema = dataclasses.make_dataclass("SiteRules", fields, frozen=True)
    schema.__module__ = __name__
    schema.__doc__ = _site_rules_schema.__doc__
    return schema


SiteRules = _site_rules_schema()


@dataclass(frozen=True)
class VerdictSettings(VerdictRules):
    """The ``[verdict]`` table: rules for every reef, and per-reef overrides."""

    sites: tuple[SiteRules, ...] = setting(  # type: ignore[valid-type]
        (),
        doc="Rules for one reef that differ from the [verdict] table ([[verdict.sites]]).",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        buoys = [site.buoy for site in self.sites]
        if len(set(buoys)) != len(buoys):
            raise ValueError("sites: a buoy is listed twice")
        for buoy in buoys:
            try:
                self.for_site(buoy)
            except ValueError as exc:
                raise ValueError(f"sites: buoy {buoy!r}: {exc}") from None

    def for_site(self, buoy: str) -> VerdictRules:
        """The rules for ``buoy``'s reef: its overrides on top of the table's values."""
        values = {name: getattr(self, name) for name in RULE_NAMES}
        for site in self.sites:
            if site.buoy == buoy:
                overrides = {name: getattr(site, name) for name in RULE_NAMES}
                values.update({k: v for k, v in overrides.items() if v is not None})
        return VerdictRules(**values)
