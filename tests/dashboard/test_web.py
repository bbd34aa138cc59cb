"""The public pages: the overview and a reef page, complete without JavaScript.

The scene is ``tests.dashboard.test_reefs.reefs``: four reefs, one per verdict level and each
with another link state, at 14:00 in Makassar (06:00 UTC).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, insert, select

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.display import age_text, local_time_text, offset_label, unit_symbol, utc_offset
from dashboard.heartbeat import beat
from dashboard.models import buoys, rollups, shops
from dashboard.reefs import zone_of
from dashboard.shops import add_shop
from dashboard.visibility_reports import TURBIDITY, store_report
from nemopi.configfile import ConfigError
from tests.dashboard.builders import NOW
from tests.dashboard.test_reefs import counted, minutes_ago, reefs, store_reading, warm_house_reef

__all__ = ["reefs"]  # the scene, used as a fixture here

TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"
WEB_SETTINGS = {
    "poll_s": 20,
    "map": {"tiles": TILES, "attribution": "test tiles"},
    "heat_stress": {"sites": [{"buoy": "house-reef", "mmm_c": 28.0}]},
}


@pytest.fixture
def app(reefs: Engine, db_url: str) -> Iterator[Flask]:
    application = create_app({"database": {"url": db_url}, **WEB_SETTINGS}, clock=lambda: NOW)
    yield application
    webcontext.engine(application).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def card(html: str, reef: str) -> str:
    found = re.search(
        rf'<li class="reef [^"]*" id="reef-{reef}" data-reef="{reef}">(.*?)\n  </li>', html, re.S
    )
    assert found, f"no card for {reef}"
    return found.group(1)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html.replace("&nbsp;", " ")).split())


def test_overview_lists_reefs_go_caution_no_go_unknown(client: FlaskClient) -> None:
    html = page(client, "/")
    cards = re.findall(r'<li class="reef verdict-([a-z-]+)" id="reef-([a-z-]+)"', html)
    assert cards == [
        ("go", "house-reef"),
        ("caution", "drift-point"),
        ("no-go", "the-channel"),
        ("unknown", "murky-bay"),
    ]
    assert html.index('<ol id="reefs">') < html.index('<div id="map"')  # the list comes first


def test_each_card_has_verdict_word_shape_reasons_and_ages(client: FlaskClient) -> None:
    html = page(client, "/")
    channel = card(html, "the-channel")
    assert (
        '<span class="shape shape-octagon" aria-hidden="true"></span> '
        '<strong class="verdict-word">No-go</strong>' in channel
    )
    assert (
        '<li class="reason reason-no-go">Current 1.2 m/s (maximum 1 m/s): no-go '
        '<time class="age" datetime="2026-06-01T05:40:00Z">20 min ago</time></li>' in channel
    )
    house = card(html, "house-reef")
    assert "shape-circle" in house and ">Go<" in house
    assert "Visibility 17.1 m (10 m or more): go" in text(house)
    murky = card(html, "murky-bay")
    assert "Water temperature: last reading failed quality control: unknown" in text(murky)
    assert "QC fail" in text(murky)
    drift = card(html, "drift-point")
    assert "reading marked suspect by quality control" in text(drift)


def test_link_states_in_the_reef_s_local_time(client: FlaskClient) -> None:
    html = page(client, "/")
    links = dict(re.findall(r'<p class="link link-([a-z]+)">([^<]*)</p>', html))
    assert links == {
        "online": "Online; last heard 13:58 (UTC+8)",
        "silent": "Silent since 12:50 (UTC+8): its status promised more by now",
        "sleeping": "Sleeping to save power; next report expected at 14:40 (UTC+8)",
        "offline": "Offline (connection lost); last heard 05:55 (UTC)",  # no zone registered
    }
    assert "Times are each reef's local time, with its offset from UTC." in html


def test_overview_shows_key_values_and_heat_stress(client: FlaskClient) -> None:
    house = card(page(client, "/"), "house-reef")
    keys = re.findall(r'data-quantity="(\w+)"', house)
    assert keys == ["visibility", "current_speed", "water_temperature", "turbidity"]
    assert "Water temperature 28.000 °C 3 min ago" in text(house)
    assert (
        '<p class="heat heat-none">Heat stress: not enough temperature data in the last 84 days'
        in house
    )
    assert 'class="heat' not in card(page(client, "/"), "drift-point")  # no MMM configured


def test_heat_stress_alert_on_the_overview_and_the_reef_page(
    reefs: Engine, client: FlaskClient
) -> None:
    warm_house_reef(reefs)  # HotSpot 1.00 a day, three days missing: DHW 11.6, Alert Level 2
    house = card(page(client, "/"), "house-reef")
    assert (
        '<p class="heat heat-4">Bleaching Alert Level 2: severe bleaching and significant coral '
        "deaths likely. HotSpot 1.00 °C, DHW 11.6 °C-weeks (lower bound: 3 of 84 days missing)"
        "</p>" in house
    )
    section = page(client, "/reefs/house-reef").split('id="heat-stress"')[1].split("</section>")[0]
    assert (
        "<strong>Bleaching Alert Level 2</strong>: severe bleaching and significant coral deaths"
        in section
    )
    assert "Daily mean (2026-05-31) 29.00 °C HotSpot 1.00 °C Degree Heating Weeks 11.6" in text(
        section
    )
    assert "Lower bound: 3 of 84 days missing." in text(section)


def test_ingest_banner_says_when_no_ingest_ever_ran(client: FlaskClient) -> None:
    html = page(client, "/")
    assert re.search(r'<p id="ingest-status" class="ingest ingest-never" role="status">', html)
    assert "No data feed has ever run here" in html


def test_ingest_banner_turns_loud_when_the_feed_stops(reefs: Engine, client: FlaskClient) -> None:
    with reefs.begin() as conn:
        conn.execute(
            buoys.update().where(buoys.c.id == "murky-bay").values(timezone="Asia/Makassar")
        )
        beat(conn, "ingest-1", minutes_ago(600), minutes_ago(10), connected=True, stored_new=True)
    html = page(client, "/")
    assert 'class="ingest ingest-silent"' in html
    assert "Data feed stopped at 13:50 (UTC+8): readings below may be out of date" in html
    assert "Times are the reefs' local time (UTC+8)." in html


def test_ingest_banner_is_quiet_while_the_feed_is_alive(reefs: Engine, client: FlaskClient) -> None:
    with reefs.begin() as conn:
        beat(conn, "ingest-1", minutes_ago(600), minutes_ago(1), connected=True, stored_new=True)
    html = page(client, "/")
    assert 'class="ingest ingest-alive"' in html
    assert "Data feed live; last reading stored 05:59 (UTC)" in html  # mixed zones: UTC


def test_reef_page_shows_every_value_with_unit_qc_and_status(client: FlaskClient) -> None:
    html = page(client, "/reefs/drift-point")
    body = re.search(r"<body ([^>]*)>", html)
    assert body and body.group(1).split() == [
        'data-page="reef"',
        'data-reef="drift-point"',
        'data-api="/api/reefs/drift-point"',
        'data-poll-s="20"',
    ]
    rows = {
        name: text(body)
        for name, body in re.findall(
            r'<tr class="reading [^"]*" data-quantity="(\w+)">(.*?)</tr>', html, re.S
        )
    }
    assert rows["current_speed"] == "Current speed 0.700 m/s suspect OK 1 h ago"
    assert rows["turbidity"] == "Turbidity 0.20 NTU not evaluated OK 1 h ago"
    assert rows["visibility"].startswith("Visibility (estimated from turbidity) 17.1 m")
    assert "Times are Drift Point's local time (Asia/Makassar, UTC+8)." in text(html)
    assert 'id="heat-stress"' not in html  # no MMM for this reef


def test_reef_page_has_verdict_heat_stress_visibility_and_charts(client: FlaskClient) -> None:
    html = page(client, "/reefs/house-reef")
    assert '<section class="reef verdict-go" id="reef-house-reef" data-reef="house-reef">' in html
    assert "Coral heat stress" in html and "Lower bound: 84 of 84 days missing" in html
    assert 'href="https://coralreefwatch.noaa.gov/product/5km/methodology.php"' in html
    assert "Buoy's estimate from turbidity: 17.1 m" in text(html)
    assert "No dive shop has reported visibility here in the last 7 days." in html
    charts = re.findall(r'<figure class="chart" data-quantity="(\w+)" data-series="([^"]+)">', html)
    assert ("visibility", "/api/reefs/house-reef/series?quantity=visibility") in charts
    assert [name for name, _ in charts] == [
        "water_temperature",
        "turbidity",
        "visibility",
        "current_speed",
    ]
    assert html.count('<button type="button" data-window=') == 4 * len(charts)
    assert '<noscript><p class="empty">The charts need JavaScript' in html


def test_a_reef_without_a_time_zone_says_it_shows_utc(client: FlaskClient) -> None:
    html = page(client, "/reefs/murky-bay")
    assert "no time zone is registered for this buoy, so UTC is shown" in html


def test_unknown_reef_is_a_404_page(client: FlaskClient) -> None:
    response = client.get("/reefs/atlantis")
    assert response.status_code == 404
    assert "No buoy called “atlantis” reports here." in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/reefs/house-reef"])
def test_pages_work_without_scripts_of_their_own(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/static/live.js" defer>',
        f'<script src="/static/{"overview" if path == "/" else "reef"}.js" defer>',
    ]  # no inline script, nothing from elsewhere
    assert " style=" not in html and "<style" not in html
    assert '<noscript><meta http-equiv="refresh" content="60"></noscript>' in html
    assert not re.search(r'(src|href)="https?://(?!coralreefwatch)', html)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "img-src 'self' http://127.0.0.1:9;" in policy


def test_without_tiles_images_come_from_the_app_only(reefs: Engine, db_url: str) -> None:
    app = create_app({"database": {"url": db_url}, "map": {"tiles": ""}}, clock=lambda: NOW)
    try:
        response = app.test_client().get("/")
    finally:
        webcontext.engine(app).dispose()
    assert "img-src 'self';" in response.headers["Content-Security-Policy"]
    assert '<div id="map" data-tiles="" data-attribution=' in response.get_data(as_text=True)


def test_pages_and_assets_are_gzipped(client: FlaskClient) -> None:
    for path in ("/", "/static/style.css", "/api/overview"):
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.headers["Content-Encoding"] == "gzip", path
        assert len(gzip.decompress(response.get_data())) > len(response.get_data())
        response.close()


@pytest.mark.parametrize(
    "path", ["/", "/reefs/house-reef", "/api/overview", "/api/reefs/house-reef", "/api/buoys"]
)
def test_public_pages_reject_writes(client: FlaskClient, path: str) -> None:
    assert client.post(path).status_code == 405
    assert client.delete(path).status_code == 405


def test_empty_database_says_no_buoy_has_reported(engine: Engine, db_url: str) -> None:
    app = create_app({"database": {"url": db_url}}, clock=lambda: NOW)
    try:
        html = app.test_client().get("/").get_data(as_text=True)
    finally:
        webcontext.engine(app).dispose()
    assert "No buoy has reported yet." in html


def test_overview_query_count_does_not_grow_with_the_history(
    reefs: Engine, app: Flask, client: FlaskClient
) -> None:
    engine = webcontext.engine(app)
    page(client, "/")  # heat stress is computed once, then cached
    with counted(engine) as before:
        page(client, "/")
    with reefs.begin() as conn:
        for seq in range(10, 210):
            store_reading(conn, "the-channel", seq, NOW - timedelta(seconds=210 - seq), ph=8.1)
    with counted(engine) as after:
        html = page(client, "/")
    assert len(after) == len(before)
    assert 'data-quantity="current_speed"' in card(html, "the-channel")


def add_reported_reef(conn: Connection, shop: int, reef: str) -> None:
    """A reef with turbidity, and a shop's report of an hour ago paired with it."""
    key = store_reading(conn, reef, 1, minutes_ago(3), turbidity=1.0)
    when = minutes_ago(60)
    store_report(conn, shop, key, 4.8, when, when)
    bucket = {"n": 1, "n_suspect": 0, "n_bad": 0, "value_min": 1.0, "value_max": 1.0}
    conn.execute(
        insert(rollups).values(
            buoy_key=key,
            quantity=TURBIDITY,
            period_s=600,
            bucket_start=when - timedelta(minutes=5),
            value_sum=1.0,
            **bucket,
        )
    )


def test_overview_query_count_does_not_grow_with_the_reefs(
    reefs: Engine, app: Flask, client: FlaskClient
) -> None:
    """Twelve more reefs, each with a shop's report paired with its turbidity, cost the
    overview not one query more than one such reef does."""
    engine = webcontext.engine(app)
    with reefs.begin() as conn:
        add_shop(conn, "Blue Lagoon Divers", NOW - timedelta(days=1))
        shop = conn.execute(select(shops.c.key)).scalar_one()
        add_reported_reef(conn, shop, "reef-first")
    page(client, "/")  # heat stress is computed once, then cached
    with counted(engine) as before:
        page(client, "/")
    with reefs.begin() as conn:
        for i in range(12):
            add_reported_reef(conn, shop, f"reef-{i:02}")
    with counted(engine) as after:
        html = page(client, "/")
    assert len(after) == len(before)
    assert html.count('class="reef verdict-') == 4 + 1 + 12
    assert "reef-11" in html


def test_the_browser_s_icon_request_is_not_an_error(client: FlaskClient) -> None:
    assert client.get("/favicon.ico").status_code == 204


def test_create_app_validates_a_mapping_like_a_config_file() -> None:
    with pytest.raises(ConfigError, match="port"):
        create_app({"port": "eighty"})
    with pytest.raises(ConfigError, match=r"map\.tiles"):
        create_app({"map": {"tiles": "ftp://tiles.example.org/{z}/{x}/{y}.png"}})


def test_times_read_naturally_in_the_reef_s_zone() -> None:
    makassar, _ = zone_of("Asia/Makassar")
    kolkata, _ = zone_of("Asia/Kolkata")
    assert local_time_text(NOW + timedelta(minutes=40), makassar, NOW) == "14:40 (UTC+8)"
    assert local_time_text(NOW - timedelta(hours=15), makassar, NOW) == "31 May 23:00 (UTC+8)"
    assert local_time_text(None, makassar, NOW) == "never"
    assert (offset_label(kolkata, NOW), utc_offset(kolkata, NOW)) == ("UTC+5:30", "+05:30")
    assert (offset_label(zone_of(None)[0], NOW), utc_offset(makassar, NOW)) == ("UTC", "+08:00")


def test_ages_and_units_read_naturally() -> None:
    assert age_text(NOW - timedelta(seconds=30), NOW) == "just now"
    assert age_text(NOW - timedelta(minutes=3, seconds=59), NOW) == "3 min ago"
    assert age_text(NOW - timedelta(hours=47), NOW) == "47 h ago"
    assert age_text(NOW - timedelta(days=3), NOW) == "3 days ago"
    assert age_text(NOW + timedelta(minutes=5), NOW) == "in the future (clock ahead?)"
    assert age_text(None, NOW) == "unknown"
    assert (unit_symbol("degree_Celsius"), unit_symbol("1"), unit_symbol("NTU")) == (
        "°C",
        "",
        "NTU",
    )
