"""The reefs read model: verdict, link state, QC, time zone, position and heat stress per reef,
in overview order, at a query cost that does not grow with the history.

The ``reefs`` fixture here is also the scene of the page and API tests: four reefs, one per
verdict level, each with a different link state, in Asia/Makassar (UTC+8) but one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select

from dashboard.heat_stress import AlertLevel, HeatStressSettings, HeatStressSite
from dashboard.models import buoys, qc_configs, qc_flags, rollups
from dashboard.reefs import (
    HeatStressCache,
    LinkState,
    ReefHeatStress,
    ReefSettings,
    load_reefs,
    zone_of,
)
from dashboard.registry import Registration, register
from dashboard.storage import store_batch, store_status
from dashboard.verdict import QC_FAIL, QC_PASS, QC_SUSPECT, Level
from dashboard.verdict_rules import VerdictSettings
from dashboard.visibility import VisibilitySettings
from nemopi.catalogue import by_name
from nemopi.configfile import from_mapping
from nemopi.wire import Batch, Status
from tests.dashboard.builders import NOW, sample

MAKASSAR = "Asia/Makassar"
HEAT_SITE = HeatStressSite(buoy="house-reef", mmm_c=28.0)
SETTINGS = ReefSettings(
    VerdictSettings(), HeatStressSettings(sites=(HEAT_SITE,)), VisibilitySettings()
)
QC_VERSION = "test-v1"


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def minutes_ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def store_reading(conn: Connection, buoy: str, seq: int, when: datetime, **values: float) -> int:
    """Store one sample taken at ``when``; returns the buoy's key."""
    store_batch(conn, Batch(buoy, (sample(seq, ms(when), **values),)), when)
    return int(conn.execute(select(buoys.c.key).where(buoys.c.id == buoy)).scalar_one())


def set_status(
    conn: Connection,
    buoy: str,
    online: bool,
    as_of: datetime,
    valid_until: datetime | None = None,
    next_report: datetime | None = None,
) -> None:
    until = None if valid_until is None else ms(valid_until)
    report = None if next_report is None else ms(next_report)
    status = Status(buoy, online, ms(as_of), until, report)
    store_status(conn, status, as_of, live=online)


def flag(conn: Connection, key: int, seq: int, quantity: str, aggregate: int) -> None:
    """A current-version QC flag for one reading (the QC worker's job, done by hand)."""
    conn.execute(
        qc_flags.insert().values(
            buoy_key=key,
            seq=seq,
            quantity=by_name(quantity).code,
            qc_version=QC_VERSION,
            aggregate=aggregate,
        )
    )


def hourly_temperatures(conn: Connection, key: int, values: dict[datetime, float]) -> None:
    """Hourly roll-ups of water temperature, one value per hour (the roll-up worker's job)."""
    code = by_name("water_temperature").code
    conn.execute(
        rollups.insert(),
        [
            {
                "buoy_key": key,
                "quantity": code,
                "period_s": 3600,
                "bucket_start": start,
                "n": 1,
                "n_suspect": 0,
                "n_bad": 0,
                "value_sum": value,
                "value_min": value,
                "value_max": value,
            }
            for start, value in values.items()
        ],
    )


def warm_house_reef(engine: Engine) -> set[date]:
    """29.0 °C every hour of house-reef's last 90 local days (MMM 28.0) but three days ending
    ten days ago: those days are returned."""
    zone = zone_of(MAKASSAR)[0]
    today = NOW.astimezone(zone).date()
    gaps = {today - timedelta(days=d) for d in (10, 11, 12)}
    start = datetime.combine(today - timedelta(days=90), datetime.min.time(), zone)
    hours = (start + timedelta(hours=h) for h in range(int((NOW - start) / timedelta(hours=1))))
    values = {h.astimezone(UTC): 29.0 for h in hours if h.date() not in gaps}
    with engine.begin() as conn:
        key = conn.execute(select(buoys.c.key).where(buoys.c.id == "house-reef")).scalar_one()
        hourly_temperatures(conn, key, values)
    return gaps


def register_reef(engine: Engine, buoy: str, name: str, timezone: str = MAKASSAR) -> None:
    register(
        engine, Registration(buoy, name, -8.5, 115.5, 50.0, timezone), NOW - timedelta(days=90)
    )


@pytest.fixture
def reefs(engine: Engine) -> Engine:
    """house-reef: go, online. drift-point: caution, silent. the-channel: no-go, sleeping.
    murky-bay: unknown (water temperature failed QC), offline, unnamed, no time zone."""
    register_reef(engine, "house-reef", "House Reef")
    register_reef(engine, "drift-point", "Drift Point")
    register_reef(engine, "the-channel", "The Channel")
    fresh = dict(turbidity=0.2, current_speed=0.3, water_temperature=28.0)
    with engine.begin() as conn:
        conn.execute(
            qc_configs.insert().values(
                version=QC_VERSION, resolved="{}", source="", first_used=NOW, last_activated=NOW
            )
        )
        key = store_reading(conn, "house-reef", 1, minutes_ago(3), **fresh)
        for quantity in fresh:
            flag(conn, key, 1, quantity, QC_PASS)
        set_status(conn, "house-reef", True, minutes_ago(2), valid_until=NOW + timedelta(hours=1))

        drift = {**fresh, "current_speed": 0.7}
        key = store_reading(conn, "drift-point", 1, minutes_ago(75), **drift)
        flag(conn, key, 1, "current_speed", QC_SUSPECT)
        set_status(
            conn, "drift-point", True, minutes_ago(70), valid_until=minutes_ago(10)
        )  # promised an hour of life 70 minutes ago

        store_reading(conn, "the-channel", 7, minutes_ago(20), **{**fresh, "current_speed": 1.2})
        set_status(
            conn, "the-channel", False, minutes_ago(15), next_report=NOW + timedelta(minutes=40)
        )

        key = store_reading(conn, "murky-bay", 3, minutes_ago(5), **fresh)
        flag(conn, key, 3, "water_temperature", QC_FAIL)
        set_status(conn, "murky-bay", False, minutes_ago(4))
    return engine


def load(engine: Engine, buoy: str | None = None, settings: ReefSettings = SETTINGS) -> list[Any]:
    with engine.connect() as conn:
        return load_reefs(conn, settings, NOW, buoy)


def test_reefs_come_in_verdict_order_go_caution_no_go_unknown(reefs: Engine) -> None:
    found = load(reefs)
    assert [(r.id, r.verdict.level) for r in found] == [
        ("house-reef", Level.GO),
        ("drift-point", Level.CAUTION),
        ("the-channel", Level.NO_GO),
        ("murky-bay", Level.UNKNOWN),
    ]


def test_each_reef_has_its_link_state(reefs: Engine) -> None:
    links = {r.id: r.link for r in load(reefs)}
    assert links["house-reef"].state is LinkState.ONLINE
    assert links["drift-point"].state is LinkState.SILENT
    assert links["drift-point"].last_heard == minutes_ago(70)
    assert links["the-channel"].state is LinkState.SLEEPING
    assert links["the-channel"].next_report == NOW + timedelta(minutes=40)
    assert links["murky-bay"].state is LinkState.OFFLINE


def test_a_sleeping_buoy_whose_report_is_overdue_is_offline(reefs: Engine) -> None:
    with reefs.begin() as conn:
        set_status(conn, "the-channel", False, minutes_ago(90), next_report=minutes_ago(30))
    (channel,) = load(reefs, "the-channel")
    assert channel.link.state is LinkState.OFFLINE


def test_a_buoy_without_a_status_has_an_unknown_link(engine: Engine) -> None:
    with engine.begin() as conn:
        store_reading(conn, "new-buoy", 1, minutes_ago(1), water_temperature=28.0)
    (reef,) = load(engine)
    assert reef.link.state is LinkState.UNKNOWN


def test_a_latest_reading_failed_by_qc_makes_the_verdict_unknown(reefs: Engine) -> None:
    (murky,) = load(reefs, "murky-bay")
    temperature = murky.value("water_temperature")
    assert (temperature.qc_flag, temperature.qc) == (QC_FAIL, "fail")
    assert not temperature.usable
    reason = next(r for r in murky.verdict.reasons if r.quantity == "water_temperature")
    assert reason.level is Level.UNKNOWN
    assert "failed quality control" in reason.text


def test_qc_state_is_that_of_the_current_qc_version_only(reefs: Engine) -> None:
    with reefs.begin() as conn:
        conn.execute(
            qc_configs.insert().values(
                version="test-v2",
                resolved="{}",
                source="",
                first_used=NOW,
                last_activated=NOW + timedelta(seconds=1),
            )
        )
    (murky,) = load(reefs, "murky-bay")
    assert murky.value("water_temperature").qc == "not evaluated"  # v2 has no flag yet
    assert murky.verdict.level is Level.GO


def test_suspect_values_are_used_and_said_so(reefs: Engine) -> None:
    (drift,) = load(reefs, "drift-point")
    current = next(r for r in drift.verdict.reasons if r.quantity == "current_speed")
    assert (current.level, current.suspect) == (Level.CAUTION, True)
    assert drift.value("current_speed").qc == "suspect"


def test_visibility_is_derived_from_the_latest_turbidity(reefs: Engine) -> None:
    (house,) = load(reefs, "house-reef")
    visibility = house.value("visibility")
    turbidity = house.value("turbidity")
    expected = house.conversion.visibility_m(0.2)
    assert visibility.value == pytest.approx(expected)
    assert visibility.value == pytest.approx(4.8 / (0.08 + 1.0 * 0.2))  # the default model
    assert (visibility.time, visibility.qc_flag) == (turbidity.time, turbidity.qc_flag)
    assert [v.quantity.name for v in house.key_values()] == [
        "visibility",
        "current_speed",
        "water_temperature",
        "turbidity",
    ]


def test_names_time_zones_and_positions_with_their_fallbacks(reefs: Engine) -> None:
    found = {r.id: r for r in load(reefs)}
    house, murky = found["house-reef"], found["murky-bay"]
    assert (house.name, house.timezone_name, house.timezone_known) == (
        "House Reef",
        MAKASSAR,
        True,
    )
    assert house.timezone.utcoffset(NOW) == timedelta(hours=8)
    assert (house.position.latitude, house.position.longitude, house.position.moored) == (
        -8.5,
        115.5,
        True,
    )
    assert (murky.name, murky.timezone_name, murky.timezone_known) == ("murky-bay", "UTC", False)
    assert murky.position is None  # no mooring and no GPS fix


def test_an_unmoored_buoy_is_placed_at_its_latest_usable_fix(engine: Engine) -> None:
    with engine.begin() as conn:
        store_reading(conn, "drifter", 1, minutes_ago(9), latitude=-8.1, longitude=114.5)
        store_reading(conn, "drifter", 2, minutes_ago(4), latitude=-8.2, longitude=114.6)
    (drifter,) = load(engine)
    assert (drifter.position.latitude, drifter.position.longitude) == (-8.2, 114.6)
    assert not drifter.position.moored


def test_an_unknown_time_zone_falls_back_to_utc() -> None:
    assert zone_of("Mars/Olympus_Mons") == (UTC, False)
    assert zone_of(None) == (UTC, False)


def test_heat_stress_from_hourly_roll_ups_in_local_days(reefs: Engine) -> None:
    """MMM 28.0 °C and 29.0 °C every hour: a HotSpot of 1.00 every day. Three local days
    without data are missing, not cool: DHW = 81 × 1.00 / 7 = 11.57 (Alert Level 2), a lower
    bound. Today (14:00 in Makassar) has 14 hours, too few: the latest day is yesterday."""
    gaps = warm_house_reef(reefs)
    today = NOW.astimezone(zone_of(MAKASSAR)[0]).date()
    (house,) = load(reefs, "house-reef")
    heat = house.heat_stress
    latest = heat.latest
    assert latest.day == today - timedelta(days=1)
    assert (latest.mean_c, latest.hotspot_c) == (29.0, 1.0)
    assert latest.dhw.value == pytest.approx(81 / 7)
    assert latest.dhw.missing_days == 3
    assert latest.alert is AlertLevel.ALERT_2 and latest.alert_is_lower_bound
    assert len(heat.days) == 84 and heat.days[-1].day == today
    assert heat.days[-1].mean_c is None and heat.days[-1].hours == 14
    missing = [d.day for d in heat.days if d.mean_c is None]
    assert missing == sorted([*gaps, today])


def test_heat_stress_is_recomputed_at_most_every_ten_minutes(reefs: Engine) -> None:
    settings = dataclasses.replace(SETTINGS, heat_stress_cache=HeatStressCache())

    def heat(at: datetime) -> ReefHeatStress:
        with reefs.connect() as conn:
            (house,) = load_reefs(conn, settings, at, "house-reef")
        assert house.heat_stress is not None
        return house.heat_stress

    before = heat(NOW)
    warm_house_reef(reefs)
    assert heat(NOW + timedelta(minutes=9)) is before
    assert before.latest is not None and before.latest.alert is None
    after = heat(NOW + timedelta(minutes=10))
    assert after.latest is not None and after.latest.alert is AlertLevel.ALERT_2


def test_heat_stress_only_for_reefs_with_an_mmm(reefs: Engine) -> None:
    found = {r.id: r for r in load(reefs)}
    assert found["house-reef"].heat_stress is not None
    assert found["drift-point"].heat_stress is None


def test_per_site_verdict_rules_apply(reefs: Engine) -> None:
    site = {"buoy": "house-reef", "current_caution_above_m_s": 0.2, "current_no_go_above_m_s": 0.25}
    strict = from_mapping({"sites": [site]}, VerdictSettings, "web.toml")
    settings = ReefSettings(strict, SETTINGS.heat_stress, SETTINGS.visibility)
    found = {r.id: r for r in load(reefs, settings=settings)}
    assert found["house-reef"].verdict.level is Level.NO_GO
    assert found["the-channel"].verdict.level is Level.NO_GO
    assert found["drift-point"].verdict.level is Level.CAUTION  # the defaults elsewhere


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_query_count_does_not_grow_with_the_history(reefs: Engine) -> None:
    with counted(reefs) as before:
        load(reefs)
    with reefs.begin() as conn:
        for seq in range(10, 310):
            when = NOW - timedelta(seconds=310 - seq)
            store_reading(conn, "house-reef", seq, when, water_temperature=28.0, turbidity=0.3)
            store_reading(conn, "drift-point", seq, when, current_speed=0.6)
    with counted(reefs) as after:
        found = load(reefs)
    assert len(after) == len(before)
    house = next(r for r in found if r.id == "house-reef")
    assert house.value("turbidity").value == 0.3  # the new history was read
    # buoys, QC version, latest values, the conversions; heat stress for house-reef
    assert len(after) <= 4 + 1
