"""The dive verdict: each rule's levels and words, the precedence between inputs, the per-reef
rules as configuration. Tables of cases, each worked out by hand from the defaults."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard.verdict import (
    QC_FAIL,
    QC_MISSING,
    QC_NOT_EVALUATED,
    QC_PASS,
    QC_SUSPECT,
    Level,
    Reading,
    describe_age,
    evaluate,
)
from dashboard.verdict_rules import SiteRules, VerdictRules, VerdictSettings
from nemopi.catalogue import by_name
from nemopi.configfile import ConfigError, documented_keys, from_mapping
from nemopi.sensor_status import SensorStatus
from scripts.config_docs import tables

NOW = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
DEFAULTS = VerdictRules()


def reading(
    value: float | None,
    age: timedelta = timedelta(minutes=10),
    qc: int = QC_PASS,
    status: SensorStatus = SensorStatus.OK,
) -> Reading:
    return Reading(value, NOW - age, qc, status)


MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)

# quantity, reading (None: absent), level, threshold, text
REASONS = [
    ("visibility", reading(12.0), Level.GO, 10.0, "Visibility 12 m (10 m or more): go"),
    ("visibility", reading(10.0), Level.GO, 10.0, "Visibility 10 m (10 m or more): go"),
    ("visibility", reading(9.9), Level.CAUTION, 10.0, "Visibility 9.9 m (below 10 m): caution"),
    ("visibility", reading(5.0), Level.CAUTION, 10.0, "Visibility 5 m (below 10 m): caution"),
    ("visibility", reading(4.0), Level.NO_GO, 5.0, "Visibility 4 m (minimum 5 m): no-go"),
    ("current_speed", reading(0.5), Level.GO, 0.5, "Current 0.5 m/s (0.5 m/s or less): go"),
    ("current_speed", reading(0.9), Level.CAUTION, 0.5, "Current 0.9 m/s (above 0.5 m/s): caution"),
    ("current_speed", reading(1.0), Level.CAUTION, 0.5, "Current 1 m/s (above 0.5 m/s): caution"),
    ("current_speed", reading(1.25), Level.NO_GO, 1.0, "Current 1.25 m/s (maximum 1 m/s): no-go"),
    (
        "water_temperature",
        reading(28.5),
        Level.GO,
        31.0,
        "Water temperature 28.5 °C (24 to 31 °C): go",
    ),
    (
        "water_temperature",
        reading(24.0),
        Level.GO,
        24.0,
        "Water temperature 24 °C (24 to 31 °C): go",
    ),
    (
        "water_temperature",
        reading(22.0),
        Level.CAUTION,
        24.0,
        "Water temperature 22 °C (below 24 °C): caution",
    ),
    (
        "water_temperature",
        reading(31.5),
        Level.CAUTION,
        31.0,
        "Water temperature 31.5 °C (above 31 °C): caution",
    ),
    (
        "visibility",
        reading(7.0, qc=QC_SUSPECT),
        Level.CAUTION,
        10.0,
        "Visibility 7 m (below 10 m): caution; reading marked suspect by quality control",
    ),
    (
        "visibility",
        reading(12.0, qc=QC_NOT_EVALUATED),
        Level.GO,
        10.0,
        "Visibility 12 m (10 m or more): go",
    ),
    (
        "visibility",
        reading(12.0, age=2 * HOUR),
        Level.GO,
        10.0,
        "Visibility 12 m (10 m or more): go",
    ),
    (
        "water_temperature",
        reading(28.0, age=3 * HOUR),
        Level.UNKNOWN,
        None,
        "Water temperature: last reading older than 2 h: unknown",
    ),
    (
        "visibility",
        reading(12.0, age=2 * HOUR + MIN),
        Level.UNKNOWN,
        None,
        "Visibility: last reading older than 2 h: unknown",
    ),
    (
        "visibility",
        reading(2.0, age=3 * HOUR),
        Level.UNKNOWN,
        None,
        "Visibility: last reading older than 2 h: unknown",
    ),
    (
        "visibility",
        reading(12.0, qc=QC_FAIL),
        Level.UNKNOWN,
        None,
        "Visibility: last reading failed quality control: unknown",
    ),
    (
        "visibility",
        reading(12.0, qc=QC_MISSING),
        Level.UNKNOWN,
        None,
        "Visibility: no value in the last reading: unknown",
    ),
    (
        "visibility",
        reading(None),
        Level.UNKNOWN,
        None,
        "Visibility: no value in the last reading: unknown",
    ),
    (
        "current_speed",
        reading(0.2, status=SensorStatus.WARMING_UP),
        Level.UNKNOWN,
        None,
        "Current: sensor warming up: unknown",
    ),
    (
        "current_speed",
        reading(None, status=SensorStatus.UNREACHABLE),
        Level.UNKNOWN,
        None,
        "Current: sensor unreachable: unknown",
    ),
    (
        "visibility",
        reading(12.0, age=-10 * MIN),
        Level.UNKNOWN,
        None,
        "Visibility: reading time is ahead of the clock: unknown",
    ),
    (
        "visibility",
        reading(12.0, age=-2 * MIN),
        Level.GO,
        10.0,
        "Visibility 12 m (10 m or more): go",
    ),
    ("visibility", None, Level.UNKNOWN, None, "Visibility: no reading: unknown"),
]


@pytest.mark.parametrize(("quantity", "latest", "level", "threshold", "text"), REASONS)
def test_one_input_gives_its_level_threshold_and_words(
    quantity: str, latest: Reading | None, level: Level, threshold: float | None, text: str
) -> None:
    rules = VerdictRules(required=(quantity,))
    verdict = evaluate({} if latest is None else {quantity: latest}, NOW, rules)
    [reason] = verdict.reasons
    assert (reason.quantity, reason.level, reason.threshold, reason.text) == (
        quantity,
        level,
        threshold,
        text,
    )
    assert verdict.level is level
    assert reason.value == (None if latest is None else latest.value)


@pytest.mark.parametrize(
    ("latest", "age"),
    [
        (None, None),
        (reading(12.0), 10 * MIN),
        (reading(12.0, age=3 * HOUR), 3 * HOUR),
        (reading(12.0, age=-2 * MIN), timedelta(0)),
    ],
)
def test_each_reason_carries_the_age_of_its_input(
    latest: Reading | None, age: timedelta | None
) -> None:
    verdict = evaluate({} if latest is None else {"visibility": latest}, NOW, DEFAULTS)
    reason = next(r for r in verdict.reasons if r.quantity == "visibility")
    assert reason.age == age


GO_INPUTS = {
    "visibility": reading(15.0),
    "current_speed": reading(0.2),
    "water_temperature": reading(28.0),
}

# changes to an all-go reef, the verdict and the reasons' quantities worst first
PRECEDENCE = [
    ("all go", {}, DEFAULTS, Level.GO, ["visibility", "current_speed", "water_temperature"]),
    (
        "one caution",
        {"current_speed": reading(0.8)},
        DEFAULTS,
        Level.CAUTION,
        ["current_speed", "visibility", "water_temperature"],
    ),
    (
        "unknown beats caution",
        {"current_speed": reading(0.8), "water_temperature": None},
        DEFAULTS,
        Level.UNKNOWN,
        ["water_temperature", "current_speed", "visibility"],
    ),
    (
        "fresh no-go beats unknown",
        {"visibility": reading(3.0), "water_temperature": None},
        DEFAULTS,
        Level.NO_GO,
        ["visibility", "water_temperature", "current_speed"],
    ),
    (
        "stale no-go is only unknown",
        {"visibility": reading(3.0, age=3 * HOUR)},
        DEFAULTS,
        Level.UNKNOWN,
        ["visibility", "current_speed", "water_temperature"],
    ),
    (
        "failed no-go is only unknown",
        {"current_speed": reading(2.0, qc=QC_FAIL)},
        DEFAULTS,
        Level.UNKNOWN,
        ["current_speed", "visibility", "water_temperature"],
    ),
    (
        "suspect no-go is used",
        {"current_speed": reading(2.0, qc=QC_SUSPECT)},
        DEFAULTS,
        Level.NO_GO,
        ["current_speed", "visibility", "water_temperature"],
    ),
    (
        "nothing measured",
        {"visibility": None, "current_speed": None, "water_temperature": None},
        DEFAULTS,
        Level.UNKNOWN,
        ["visibility", "current_speed", "water_temperature"],
    ),
    (
        "an optional input without data says nothing",
        {"current_speed": None},
        VerdictRules(required=("visibility", "water_temperature")),
        Level.GO,
        ["visibility", "water_temperature"],
    ),
    (
        "an optional input with data counts",
        {"current_speed": reading(0.8)},
        VerdictRules(required=("visibility",)),
        Level.CAUTION,
        ["current_speed", "visibility", "water_temperature"],
    ),
    (
        "no rules required and nothing measured",
        {"visibility": None, "current_speed": None, "water_temperature": None},
        VerdictRules(required=()),
        Level.UNKNOWN,
        [],
    ),
]


@pytest.mark.parametrize(
    ("changes", "rules", "level", "order"),
    [case[1:] for case in PRECEDENCE],
    ids=[case[0] for case in PRECEDENCE],
)
def test_verdict_is_the_worst_reason_no_go_before_unknown_before_caution(
    changes: dict[str, Reading | None], rules: VerdictRules, level: Level, order: list[str]
) -> None:
    inputs = {**GO_INPUTS, **changes}
    latest = {q: r for q, r in inputs.items() if r is not None}
    verdict = evaluate(latest, NOW, rules)
    assert verdict.level is level
    assert [r.quantity for r in verdict.reasons] == order


def test_quantities_without_a_rule_are_ignored() -> None:
    verdict = evaluate({**GO_INPUTS, "ph": reading(2.0)}, NOW, DEFAULTS)
    assert verdict.level is Level.GO
    assert "ph" not in [r.quantity for r in verdict.reasons]


@pytest.mark.parametrize(
    ("level", "text", "shape", "colour"),
    [
        (Level.GO, "go", "circle", "green"),
        (Level.CAUTION, "caution", "triangle", "amber"),
        (Level.UNKNOWN, "unknown", "diamond", "grey"),
        (Level.NO_GO, "no-go", "octagon", "red"),
    ],
)
def test_each_level_has_words_a_shape_and_a_colour(
    level: Level, text: str, shape: str, colour: str
) -> None:
    assert (level.text, level.shape, level.colour) == (text, shape, colour)


def test_no_two_levels_share_a_shape_or_a_colour() -> None:
    assert len({level.shape for level in Level}) == len({level.colour for level in Level}) == 4


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (timedelta(seconds=59), "under 1 min"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(hours=47, minutes=59), "47 h 59 min"),
        (timedelta(days=3, hours=5), "3 days"),
    ],
)
def test_ages_read_as_a_person_says_them(age: timedelta, words: str) -> None:
    assert describe_age(age) == words


@pytest.mark.parametrize(
    "make",
    [
        lambda: Reading(1.0, datetime(2024, 3, 1, 6, 0)),
        lambda: Reading(1.0, NOW, qc_flag=5),
        lambda: Reading(1.0, NOW, status=99),  # type: ignore[arg-type]
        lambda: evaluate({}, datetime(2024, 3, 1, 6, 0), DEFAULTS),
    ],
    ids=["naive reading time", "unknown QC flag", "unknown sensor status", "naive now"],
)
def test_programming_errors_raise_at_once(make: Any) -> None:
    with pytest.raises(ValueError):
        make()


def test_a_status_stored_as_an_int_is_read_as_the_sensor_status() -> None:
    assert Reading(1.0, NOW, status=1).status is SensorStatus.WARMING_UP  # type: ignore[arg-type]


def test_every_rule_is_for_a_catalogue_quantity() -> None:
    for limits in DEFAULTS.limits():
        assert by_name(limits.quantity).name == limits.quantity


VERDICT_TOML = """
[verdict]
max_input_age_min = 90
current_no_go_above_m_s = 1.5

[[verdict.sites]]
buoy = "channel-01"
current_caution_above_m_s = 0.8
required = ["visibility", "current_speed"]

[[verdict.sites]]
buoy = "house-reef"
visibility_caution_below_m = 8.0
"""


def test_a_verdict_table_loads_with_per_site_overrides() -> None:
    settings = from_mapping(tomllib.loads(VERDICT_TOML)["verdict"], VerdictSettings, "web.toml")
    channel, house, other = (settings.for_site(b) for b in ("channel-01", "house-reef", "x"))
    assert (channel.max_input_age_min, channel.current_no_go_above_m_s) == (90, 1.5)
    assert channel.current_caution_above_m_s == 0.8
    assert channel.required == ("visibility", "current_speed")
    assert (house.visibility_caution_below_m, house.current_caution_above_m_s) == (8.0, 0.5)
    assert house.required == DEFAULTS.required
    assert other == VerdictRules(max_input_age_min=90, current_no_go_above_m_s=1.5)


def test_an_override_changes_the_verdict_for_its_reef_only() -> None:
    settings = from_mapping(tomllib.loads(VERDICT_TOML)["verdict"], VerdictSettings, "web.toml")
    current = {**GO_INPUTS, "current_speed": reading(0.7)}
    assert evaluate(current, NOW, settings.for_site("channel-01")).level is Level.GO
    assert evaluate(current, NOW, settings.for_site("house-reef")).level is Level.CAUTION


def test_an_empty_verdict_table_gives_the_documented_defaults() -> None:
    settings = from_mapping({}, VerdictSettings, "web.toml")
    assert settings.for_site("reef-01") == DEFAULTS
    assert [(limits.quantity, limits.unit) for limits in DEFAULTS.limits()] == [
        ("visibility", "m"),
        ("current_speed", "m/s"),
        ("water_temperature", "°C"),
    ]
    assert dataclasses.asdict(DEFAULTS) == {
        "max_input_age_min": 120,
        "visibility_caution_below_m": 10.0,
        "visibility_no_go_below_m": 5.0,
        "current_caution_above_m_s": 0.5,
        "current_no_go_above_m_s": 1.0,
        "water_temperature_caution_below_c": 24.0,
        "water_temperature_caution_above_c": 31.0,
        "required": ("visibility", "current_speed", "water_temperature"),
    }


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"visibilty_caution_below_m": 3.0}, "visibilty_caution_below_m: unknown key"),
        ({"visibility_no_go_below_m": 12.0}, "no-go limit lies inside its caution limit"),
        ({"current_caution_above_m_s": 1.5}, "no-go limit lies inside its caution limit"),
        ({"water_temperature_caution_below_c": 32.0}, "lower limits must lie below the upper"),
        ({"visibility_caution_below_m": 100.0}, "expected a value in [0.0, 60.0]"),
        ({"max_input_age_min": 0}, "max_input_age_min: expected a value in [1, 1440]"),
        ({"required": ["visibility", "waves"]}, "required: ['waves'] have no rule"),
        ({"required": ["visibility", "visibility"]}, "listed twice"),
        ({"sites": [{"buoy": "Reef 1"}]}, "sites[0].buoy: not a valid buoy id"),
        ({"sites": [{"visibility_no_go_below_m": 2.0}]}, "sites[0].buoy: missing required key"),
        ({"sites": [{"buoy": "a"}, {"buoy": "a"}]}, "sites: a buoy is listed twice"),
        (
            {"sites": [{"buoy": "a", "visibility_no_go_below_m": 11.0}]},
            "sites: buoy 'a': Visibility: a no-go limit lies inside its caution limit",
        ),
        (
            {"sites": [{"buoy": "a", "current_no_go_above_m_s": 9.0}]},
            "sites[0].current_no_go_above_m_s: expected a value in [0.0, 5.0]",
        ),
    ],
)
def test_a_bad_verdict_table_is_a_config_error_naming_the_problem(
    table: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        from_mapping(table, VerdictSettings, "web.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("web.toml: ")


def test_every_site_override_mirrors_a_rule() -> None:
    rules = set(documented_keys(VerdictRules))
    assert set(documented_keys(SiteRules)) == rules | {"buoy"}
    assert set(documented_keys(VerdictSettings)) == rules | {f"sites.{k}" for k in rules | {"buoy"}}


def test_the_verdict_table_renders_in_the_configuration_reference() -> None:
    rendered = list(tables(VerdictSettings, "verdict"))
    assert [t.header for t in rendered] == ["[verdict]", "[[verdict.sites]]"]
    assert all(row.doc.strip() for table in rendered for row in table.rows)
