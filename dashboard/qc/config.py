"""The QC configuration: thresholds as data, resolved per buoy and quantity, versioned by content.

A TOML file (named by the ingest's ``qc_file`` setting; docs/quality-control.md) may set, per
quantity, which tests run and their thresholds, and override any of them per site (buoy id).
Whatever it leaves unset comes from the quantity catalogue (``default_thresholds``). Loading
resolves every layer into ``Thresholds`` and fails with ``ConfigError`` naming the file and the
key on anything it does not understand: an unknown key, quantity or test name, or a threshold
that makes no sense (a suspect span wider than the fail span, a fail below the suspect).

``QcConfig.version`` is a hash of the *resolved* configuration and ``RULES_REVISION``: changing
a threshold (or a catalogue default, or what a rule means) changes the version, while editing a
comment does not. Flags are stored per version, so every flag can be traced to its thresholds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nemopi.catalogue import CATALOGUE, Group, Quantity, by_name
from nemopi.configfile import ConfigError, in_range, load, setting

# Bump when a rule's meaning changes, so that flags computed by old code get a new version.
RULES_REVISION = 1
TESTS = ("gross_range", "spike", "rate_of_change", "flat_line")
DEFAULT_MAX_GAP_S = 3600.0
# Loose catalogue-derived defaults: fractions of the physically possible span, so that only
# grotesque jumps are flagged until a site sets thresholds that fit its reef.
SPIKE_SUSPECT_FRACTION = 0.05
SPIKE_FAIL_FRACTION = 0.10
RATE_SUSPECT_FRACTION_PER_HOUR = 0.10
RATE_FAIL_FRACTION_PER_HOUR = 0.25
FLAT_LINE_SUSPECT_S = 4 * 3600.0
FLAT_LINE_FAIL_S = 12 * 3600.0
# Quantities that may legitimately stay constant for hours (no sun at night, an empty outbox,
# no NOx) do not get the flat-line test unless the file asks for it.
FLAT_LINE_GROUPS = (Group.WATER, Group.POSITION)


@dataclass(frozen=True)
class QuantitySettings:
    """One quantity's settings as a file layer writes them; None means "not set here"."""

    tests: tuple[str, ...] | None = setting(
        None, doc=f"Tests to run, a subset of {', '.join(TESTS)}."
    )
    gross_range_fail: tuple[float, ...] | None = setting(
        None,
        doc="Sensor limits [min, max]: FAIL outside. Within the catalogue's physical range.",
    )
    gross_range_suspect: tuple[float, ...] | None = setting(
        None, doc="Expected range [min, max] at the site: SUSPECT outside. Within the fail span."
    )
    spike_suspect: float | None = setting(None, doc="Spike height (units) that is SUSPECT.")
    spike_fail: float | None = setting(None, doc="Spike height (units) that is FAIL.")
    rate_of_change_suspect: float | None = setting(
        None, doc="Rate (units per second) above which a value is SUSPECT."
    )
    rate_of_change_fail: float | None = setting(
        None, doc="Rate (units per second) above which a value is FAIL."
    )
    flat_line_tolerance: float | None = setting(
        None, doc="Values within this range of each other count as unchanged."
    )
    flat_line_suspect_s: float | None = setting(
        None, doc="Seconds unchanged before a value is SUSPECT."
    )
    flat_line_fail_s: float | None = setting(None, doc="Seconds unchanged before FAIL.")


@dataclass(frozen=True)
class SiteSettings:
    quantities: dict[str, QuantitySettings] | None = setting(
        None, doc="Per-quantity overrides for this buoy."
    )


@dataclass(frozen=True)
class QcFile:
    max_gap_s: float = setting(
        DEFAULT_MAX_GAP_S,
        doc="Readings further apart than this are not neighbours (spike, rate of change).",
        check=in_range(1.0, 7 * 86400.0),
    )
    quantities: dict[str, QuantitySettings] | None = setting(
        None, doc="Per-quantity settings, keyed by catalogue name."
    )
    sites: dict[str, SiteSettings] | None = setting(
        None, doc="Per-site overrides, keyed by buoy id."
    )


@dataclass(frozen=True)
class Thresholds:
    """What the rules need for one quantity at one site. A test is off when not in ``tests``."""

    tests: frozenset[str]
    gross_range_fail: tuple[float, float]
    gross_range_suspect: tuple[float, float] | None
    spike_suspect: float
    spike_fail: float
    rate_of_change_suspect: float
    rate_of_change_fail: float | None
    flat_line_tolerance: float
    flat_line_suspect_s: float
    flat_line_fail_s: float

    @property
    def lookback_s(self) -> float:
        """How far back a value's own tests look (the longest flat-line window)."""
        return self.flat_line_fail_s if "flat_line" in self.tests else 0.0


def default_thresholds(quantity: Quantity) -> Thresholds:
    """The thresholds a quantity gets when the file says nothing about it."""
    span = quantity.valid_max - quantity.valid_min
    tests = {"gross_range", "spike", "rate_of_change"}
    if quantity.group in FLAT_LINE_GROUPS:
        tests.add("flat_line")
    return Thresholds(
        tests=frozenset(tests),
        gross_range_fail=(quantity.valid_min, quantity.valid_max),
        gross_range_suspect=None,
        spike_suspect=span * SPIKE_SUSPECT_FRACTION,
        spike_fail=span * SPIKE_FAIL_FRACTION,
        rate_of_change_suspect=span * RATE_SUSPECT_FRACTION_PER_HOUR / 3600.0,
        rate_of_change_fail=span * RATE_FAIL_FRACTION_PER_HOUR / 3600.0,
        # Half a unit of the last decimal the wire carries: "unchanged at wire resolution".
        flat_line_tolerance=0.5 * 10.0**-quantity.decimals,
        flat_line_suspect_s=FLAT_LINE_SUSPECT_S,
        flat_line_fail_s=FLAT_LINE_FAIL_S,
    )


@dataclass(frozen=True)
class QcConfig:
    """The resolved configuration. ``source`` is the file's text ("" for the built-in
    defaults); ``resolved`` is the canonical JSON of every threshold, which ``version`` hashes."""

    max_gap_s: float
    defaults: Mapping[int, Thresholds]
    sites: Mapping[str, Mapping[int, Thresholds]]
    source: str
    resolved: str
    version: str

    def thresholds_for(self, buoy: str) -> Mapping[int, Thresholds]:
        """Thresholds by quantity code for ``buoy``."""
        return self.sites.get(buoy, self.defaults)

    @property
    def lookback_s(self) -> float:
        """The longest any test looks back or forward from a value, over every site."""
        all_thresholds = [*self.defaults.values()]
        for site in self.sites.values():
            all_thresholds.extend(site.values())
        return max(self.max_gap_s, *(t.lookback_s for t in all_thresholds))


def load_qc_config(path: str | Path | None) -> QcConfig:
    """The configuration in ``path``, or the catalogue defaults when ``path`` is None."""
    if path is None:
        return resolve(QcFile(), source="", source_name="(built-in defaults)")
    parsed = load(path, QcFile)
    return resolve(parsed, source=Path(path).read_text(encoding="utf-8"), source_name=str(path))


def resolve(parsed: QcFile, *, source: str, source_name: str) -> QcConfig:
    """Merge catalogue defaults, the file's quantities and its sites into ``QcConfig``."""
    quantities = parsed.quantities or {}
    defaults = _layer({}, quantities, source_name, "quantities")
    sites = {
        buoy: _layer(quantities, site.quantities or {}, source_name, f"sites.{buoy}.quantities")
        for buoy, site in (parsed.sites or {}).items()
    }
    resolved = json.dumps(
        {
            "rules_revision": RULES_REVISION,
            "max_gap_s": parsed.max_gap_s,
            "defaults": _as_json(defaults),
            "sites": {buoy: _as_json(t) for buoy, t in sorted(sites.items())},
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    version = hashlib.sha256(resolved.encode()).hexdigest()[:16]
    return QcConfig(
        max_gap_s=parsed.max_gap_s,
        defaults=MappingProxyType(defaults),
        sites=MappingProxyType({b: MappingProxyType(t) for b, t in sites.items()}),
        source=source,
        resolved=resolved,
        version=version,
    )


def _layer(
    base: Mapping[str, QuantitySettings],
    top: Mapping[str, QuantitySettings],
    source: str,
    prefix: str,
) -> dict[int, Thresholds]:
    """Thresholds for every quantity: catalogue, then ``base``, then ``top`` (most specific)."""
    out: dict[int, Thresholds] = {}
    for name in top:
        _quantity(name, source, f"{prefix}.{name}")
    for quantity in CATALOGUE:
        layers = [(s, "quantities") for s in [base.get(quantity.name)] if s is not None]
        if quantity.name in top:
            layers.append((top[quantity.name], prefix))
        values = dataclasses.asdict(default_thresholds(quantity))
        origin: dict[str, str] = {}
        for layer, where in layers:
            for key, value in dataclasses.asdict(layer).items():
                if value is not None:
                    values[key] = value
                    origin[key] = f"{where}.{quantity.name}.{key}"
        out[quantity.code] = _checked(quantity, values, origin, source)
    return out


def _quantity(name: str, source: str, key: str) -> Quantity:
    try:
        return by_name(name)
    except KeyError:
        raise ConfigError(source, key, "unknown quantity (see nemopi/catalogue.py)") from None


def _checked(
    quantity: Quantity, values: dict[str, Any], origin: dict[str, str], source: str
) -> Thresholds:
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(source, origin.get(key, f"(default).{quantity.name}.{key}"), problem)

    unknown = sorted(set(values["tests"]) - set(TESTS))
    if unknown:
        raise fail("tests", f"unknown test {unknown[0]!r} (known: {', '.join(TESTS)})")
    spans = {k: values[k] for k in ("gross_range_fail", "gross_range_suspect")}
    for key, span in spans.items():
        if span is not None and (len(span) != 2 or not span[0] < span[1]):
            raise fail(key, f"expected [min, max] with min < max, got {list(span)}")
    low, high = spans["gross_range_fail"]
    if low < quantity.valid_min or high > quantity.valid_max:
        raise fail(
            "gross_range_fail",
            f"outside the physically possible [{quantity.valid_min}, {quantity.valid_max}]",
        )
    suspect = spans["gross_range_suspect"]
    if suspect is not None and (suspect[0] < low or suspect[1] > high):
        raise fail("gross_range_suspect", f"must lie within the fail span [{low}, {high}]")
    for lower, upper in (
        ("spike_suspect", "spike_fail"),
        ("rate_of_change_suspect", "rate_of_change_fail"),
        ("flat_line_suspect_s", "flat_line_fail_s"),
    ):
        if values[lower] <= 0:
            raise fail(lower, f"must be positive, got {values[lower]}")
        if values[upper] is not None and values[upper] < values[lower]:
            raise fail(upper, f"must be at least {lower} ({values[lower]})")
    if values["flat_line_tolerance"] <= 0:
        raise fail("flat_line_tolerance", "must be positive")
    values["tests"] = frozenset(values["tests"])
    values["gross_range_fail"] = (float(low), float(high))
    values["gross_range_suspect"] = None if suspect is None else tuple(map(float, suspect))
    return Thresholds(**values)


def _as_json(thresholds: Mapping[int, Thresholds]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code, t in sorted(thresholds.items()):
        item = dataclasses.asdict(t)
        item["tests"] = sorted(t.tests)
        out[str(code)] = item
    return out
