"""Dive shops' visibility reports: the shop link, the one-tap form and its defences, and how the
reports calibrate a reef's turbidity-to-visibility conversion (numbers worked by hand)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import DBAPIError

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.db import make_engine
from dashboard.models import buoys, rollups, shops, visibility_reports
from dashboard.shops import ShopError, add_shop, list_shops, revoke_shop, token_sha256
from dashboard.visibility import VisibilitySettings, default_conversion
from dashboard.visibility_reports import (
    TURBIDITY,
    Stored,
    VisibilityReport,
    conversion_for,
    conversions_for,
    recent_reports,
    store_report,
    turbidity_means,
)
from nemopi.cli import main
from tests.dashboard.builders import NOW
from tests.dashboard.ingest_harness import register_buoys

SETTINGS = VisibilitySettings()
# NOW is 06:00 UTC: 14:00 at the reefs (Asia/Makassar, UTC+8).


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def reefs(engine: Engine) -> Engine:
    register_buoys(engine, "reef-a", "reef-b")
    return engine


@pytest.fixture
def token(reefs: Engine) -> str:
    with reefs.begin() as conn:
        return add_shop(conn, "Blue Lagoon Divers", NOW - timedelta(days=1))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(reefs: Engine, db_url: str, clock: Clock) -> Iterator[Flask]:
    application = create_app({"database": {"url": db_url}}, clock=clock)
    yield application
    webcontext.dispose(application)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def shop_client(client: FlaskClient, token: str) -> FlaskClient:
    assert client.get(f"/shop/{token}").status_code == 303
    return client


def buoy_key(engine: Engine, buoy: str) -> int:
    with engine.connect() as conn:
        key: int = conn.execute(select(buoys.c.key).where(buoys.c.id == buoy)).scalar_one()
        return key


def stored_reports(engine: Engine) -> list[tuple[str, datetime, datetime, float]]:
    query = (
        select(
            buoys.c.id,
            visibility_reports.c.observed_at,
            visibility_reports.c.received_at,
            visibility_reports.c.visibility_m,
        )
        .join(buoys, buoys.c.key == visibility_reports.c.buoy_key)
        .order_by(visibility_reports.c.id)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/report").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token in the form"
    return found.group(1)


def post_report(client: FlaskClient, **form: str) -> tuple[int, str]:
    """Post like a tap on the form; returns the status and the page it leads to."""
    fields = {"csrf_token": csrf_token(client), "reef": "reef-a", "visibility_m": "10", **form}
    response = client.post("/report", data=fields)
    if response.status_code != 303:
        return response.status_code, response.get_data(as_text=True)
    assert response.headers["Location"] == "/report"
    return 303, client.get("/report").get_data(as_text=True)


# ------------------------------------------------------------ signing in


def test_behind_an_https_proxy_the_sign_in_cookie_travels_over_https_only(
    reefs: Engine, db_url: str, token: str
) -> None:
    app = create_app({"database": {"url": db_url}, "secure_cookie": True})
    try:
        response = app.test_client().get(f"/shop/{token}", base_url="https://reefs.example")
        assert response.status_code == 303
        assert "; Secure" in response.headers["Set-Cookie"]
    finally:
        webcontext.dispose(app)


def test_the_shop_link_signs_in_with_a_safe_cookie_and_shows_the_form(
    client: FlaskClient, token: str
) -> None:
    response = client.get(f"/shop/{token}")
    assert response.status_code == 303
    assert response.headers["Location"] == "/report"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the default: plain HTTP on one machine, as in the demo
    assert token not in cookie
    page = client.get("/report")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Blue Lagoon Divers" in html
    assert html.count('<form class="report-form"') == 2
    buttons = re.findall(r'<button type="submit" name="visibility_m" value="(\d+)">', html)
    assert buttons == ["3", "5", "8", "10", "15", "20", "25", "30"] * 2
    assert "<script>" not in html and "onclick" not in html


def test_only_the_tokens_hash_is_stored(reefs: Engine, token: str) -> None:
    with reefs.connect() as conn:
        stored = conn.execute(select(shops.c.token_sha256)).scalar_one()
    assert stored == token_sha256(token) and token not in stored


@pytest.mark.parametrize("path", ["/shop/not-a-token", "/report"])
def test_without_a_valid_link_the_report_page_says_how_to_get_one(
    client: FlaskClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 403
    assert "nemopi shop add" in response.get_data(as_text=True)


def test_a_revoked_link_no_longer_signs_in_and_ends_its_sessions(
    shop_client: FlaskClient, reefs: Engine, token: str
) -> None:
    form_token = csrf_token(shop_client)
    with reefs.begin() as conn:
        revoke_shop(conn, "Blue Lagoon Divers", NOW)
    assert shop_client.get("/report").status_code == 403
    posted = shop_client.post(
        "/report", data={"csrf_token": form_token, "reef": "reef-a", "visibility_m": "10"}
    )
    assert posted.status_code == 403
    assert shop_client.get(f"/shop/{token}").status_code == 403
    assert stored_reports(reefs) == []


def test_re_adding_a_revoked_shop_gives_a_new_link_and_the_old_one_stays_dead(
    client: FlaskClient, reefs: Engine, token: str
) -> None:
    with reefs.begin() as conn:
        with pytest.raises(ShopError, match="already has a link"):
            add_shop(conn, "Blue Lagoon Divers", NOW)
        revoke_shop(conn, "Blue Lagoon Divers", NOW)
        new_token = add_shop(conn, " Blue Lagoon Divers ", NOW)
        assert [(s.name, s.revoked_at) for s in list_shops(conn)] == [("Blue Lagoon Divers", None)]
    assert client.get(f"/shop/{token}").status_code == 403
    assert client.get(f"/shop/{new_token}").status_code == 303


def test_shop_commands_print_the_link_once_and_revoke_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    config = tmp_path / "web.toml"
    config.write_text(f'port = 8090\n\n[database]\nurl = "{url}"\n')
    assert main(["shop", "add", "Blue Lagoon Divers", "--config", str(config)]) == 0
    link = capsys.readouterr().out.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8090/shop/")
    token = link.rpartition("/")[2]
    base = ["--config", str(config), "--base-url", "https://reefs.example.org/"]
    assert main(["shop", "add", "Blue Lagoon Divers", *base]) == 2  # one link at a time
    assert main(["shop", "revoke", "Blue Lagoon Divers", "--config", str(config)]) == 0
    assert main(["shop", "revoke", "Blue Lagoon Divers", "--config", str(config)]) == 2
    capsys.readouterr()
    assert main(["shop", "add", "Blue Lagoon Divers", *base]) == 0
    new_link = capsys.readouterr().out.strip().splitlines()[-1]
    assert new_link.startswith("https://reefs.example.org/shop/") and token not in new_link
    assert main(["shop", "list", "--config", str(config)]) == 0
    assert "Blue Lagoon Divers" in capsys.readouterr().out
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(shops.c.token_sha256)).scalar_one() == token_sha256(
                new_link.rpartition("/")[2]
            )
    finally:
        engine.dispose()


# ------------------------------------------------------------ reporting


def test_a_tap_stores_one_report_and_says_thank_you(
    shop_client: FlaskClient, reefs: Engine
) -> None:
    status, page = post_report(shop_client, visibility_m="15")
    assert status == 303
    assert "Thank you: 15 m at Buoy reef-a, 14:00." in page
    assert "14:00: Blue Lagoon Divers, 15 m" in page
    assert stored_reports(reefs) == [("reef-a", NOW, NOW, 15.0)]


def test_an_earlier_hour_of_today_dates_the_report_to_its_middle(
    shop_client: FlaskClient, reefs: Engine
) -> None:
    status, page = post_report(shop_client, hour="9")
    assert status == 303 and "10 m at Buoy reef-a, 09:30." in page
    observed = datetime(2026, 6, 1, 1, 30, tzinfo=UTC)  # 09:30 at UTC+8
    assert stored_reports(reefs) == [("reef-a", observed, NOW, 10.0)]


def test_a_repeat_within_ten_minutes_changes_nothing_and_says_so(
    shop_client: FlaskClient, reefs: Engine, clock: Clock
) -> None:
    assert post_report(shop_client, visibility_m="10")[0] == 303
    clock.now = NOW + timedelta(minutes=9)
    status, page = post_report(shop_client, visibility_m="25")
    assert status == 303 and "nothing was changed" in page
    assert post_report(shop_client, reef="reef-b", visibility_m="25")[0] == 303  # another reef
    clock.now = NOW + timedelta(minutes=10, seconds=1)
    assert post_report(shop_client, visibility_m="20")[0] == 303
    assert [(buoy, m) for buoy, _, _, m in stored_reports(reefs)] == [
        ("reef-a", 10.0),
        ("reef-b", 25.0),
        ("reef-a", 20.0),
    ]


def test_a_post_without_its_csrf_token_is_refused(shop_client: FlaskClient, reefs: Engine) -> None:
    response = shop_client.post("/report", data={"reef": "reef-a", "visibility_m": "10"})
    assert response.status_code == 400
    assert "expired or did not come from this site" in response.get_data(as_text=True)
    forged = {"csrf_token": "forged", "reef": "reef-a", "visibility_m": "10"}
    assert shop_client.post("/report", data=forged).status_code == 400
    assert stored_reports(reefs) == []


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"visibility_m": "abc"}, "Visibility must be a number of metres from 0 to 60"),
        ({"visibility_m": "-1"}, "Visibility must be"),
        ({"visibility_m": "60.5"}, "Visibility must be"),
        ({"visibility_m": "nan"}, "Visibility must be"),
        ({"visibility_m": "inf"}, "Visibility must be"),
        ({"visibility_m": ""}, "Visibility must be"),
        ({"reef": "no-such-reef"}, "No such reef"),
        ({"reef": ""}, "No such reef"),
        ({"hour": "14"}, "earlier hour of today"),  # 14:30 has not come yet at 14:00
        ({"hour": "24"}, "earlier hour of today"),
        ({"hour": "-3"}, "earlier hour of today"),
        ({"hour": "nine"}, "earlier hour of today"),
    ],
)
def test_bad_values_are_refused_with_a_clear_400(
    shop_client: FlaskClient, reefs: Engine, form: dict[str, str], says: str
) -> None:
    status, page = post_report(shop_client, **form)
    assert status == 400
    assert says in page
    assert stored_reports(reefs) == []


def test_a_post_with_a_valid_form_but_no_shop_in_the_session_is_refused(
    shop_client: FlaskClient, reefs: Engine
) -> None:
    form_token = csrf_token(shop_client)
    with shop_client.session_transaction() as session:
        del session["shop"]
    fields = {"csrf_token": form_token, "reef": "reef-a", "visibility_m": "10"}
    response = shop_client.post("/report", data=fields)
    assert response.status_code == 403
    assert "nemopi shop add" in response.get_data(as_text=True)
    assert stored_reports(reefs) == []


# ------------------------------------------------------------ public pages stay read-only


def test_public_get_requests_cannot_write(app: Flask, client: FlaskClient, token: str) -> None:
    for path in ("/", "/report", f"/shop/{token}", "/report?reef=reef-a&visibility_m=10"):
        assert client.get(path).status_code in (200, 303, 403)  # 403: not yet signed in
    assert client.post("/", data={}).status_code in (400, 405)
    with app.app_context():
        conn = webcontext.connection()
        with pytest.raises(DBAPIError):
            conn.execute(
                insert(visibility_reports).values(
                    buoy_key=1, shop_key=1, observed_at=NOW, received_at=NOW, visibility_m=1.0
                )
            )
    with webcontext.writer(app).connect() as conn:
        assert conn.execute(select(func.count()).select_from(visibility_reports)).scalar() == 0


# ------------------------------------------------------------ calibration


def add_bucket(conn: Connection, key: int, start: datetime, n: int, mean: float | None) -> None:
    """A 10-minute turbidity roll-up, as the roll-up engine writes them."""
    conn.execute(
        insert(rollups).values(
            buoy_key=key,
            quantity=TURBIDITY,
            period_s=600,
            bucket_start=start,
            n=n,
            n_suspect=0,
            n_bad=0 if n else 3,
            value_sum=None if mean is None else mean * n,
            value_min=mean,
            value_max=mean,
        )
    )


T1 = NOW - timedelta(days=3)
T2 = NOW - timedelta(days=2)
T3 = NOW - timedelta(minutes=90)  # 12:30 local, where the form dates a report of hour 12


@pytest.fixture
def turbidity(reefs: Engine) -> int:
    """reef-a's turbidity near three report times: 1.0 NTU near T1, 2.0 near T2, 0.5 near T3."""
    key = buoy_key(reefs, "reef-a")
    with reefs.begin() as conn:
        # T1: one bucket whose middle is T1 (n=4, mean 1.0) and one whose middle is 40 min
        # later, outside the 30-minute pairing window (mean 9.0: would spoil the pair)
        add_bucket(conn, key, T1 - timedelta(minutes=5), 4, 1.0)
        add_bucket(conn, key, T1 + timedelta(minutes=35), 4, 9.0)
        # T2: weighted by n: (1 * 1.0 + 3 * 2.333..) / 4 = (1 + 7) / 4 = 2.0 (an unweighted
        # mean of the two means would give 1.667); an empty bucket counts for nothing
        add_bucket(conn, key, T2 - timedelta(minutes=25), 1, 1.0)
        add_bucket(conn, key, T2 + timedelta(minutes=15), 3, 7.0 / 3)
        add_bucket(conn, key, T2 - timedelta(minutes=5), 0, None)
        # T3: middle 30 minutes before: at the edge of the window, still in
        add_bucket(conn, key, T3 - timedelta(minutes=35), 2, 0.5)
    return key


def shop_key(engine: Engine) -> int:
    with engine.connect() as conn:
        key: int = conn.execute(select(shops.c.key)).scalar_one()
        return key


def test_reports_calibrate_the_reef_as_worked_by_hand(
    shop_client: FlaskClient, reefs: Engine, turbidity: int, clock: Clock
) -> None:
    shop = shop_key(reefs)
    with reefs.begin() as conn:
        assert store_report(conn, shop, turbidity, 4.8, T1, T1) is Stored.STORED
        assert store_report(conn, shop, turbidity, 2.4, T2, T2) is Stored.STORED
        # a report with no turbidity near it is not paired, so not used
        a_day_ago = NOW - timedelta(days=1)
        assert store_report(conn, shop, turbidity, 30.0, a_day_ago, a_day_ago) is Stored.STORED
    with reefs.connect() as conn:
        before = conversion_for(conn, turbidity, SETTINGS, NOW)
    assert (before.source, before.reports_used) == ("default", 0)
    assert before.visibility_m(0.4) == pytest.approx(10.0)  # 4.8 / (0.08 + 0.4)
    # the third report, "earlier today, 12:00-13:00" (T3), through the form
    status, _ = post_report(shop_client, hour="12", visibility_m="9.6")
    assert status == 303
    with reefs.connect() as conn:
        after = conversion_for(conn, turbidity, SETTINGS, NOW)
    # attenuations 4.8/y = 1, 2, 0.5 at 1.0, 2.0, 0.5 NTU; c - 0.08 = 0.92, 1.92, 0.42;
    # k = (0.92 + 3.84 + 0.21) / (1 + 4 + 0.25) = 4.97 / 5.25 = 71/75
    assert (after.source, after.reports_used) == ("fitted", 3)
    assert after.attenuation_per_ntu == pytest.approx(71 / 75)
    assert after.clear_water_attenuation_per_m == pytest.approx(0.08)
    # older than report_days: no longer counted
    with reefs.connect() as conn:
        later = conversion_for(conn, turbidity, SETTINGS, T1 + timedelta(days=90, seconds=1))
    assert (later.source, later.reports_used) == ("default", 0)


def test_all_reefs_conversions_come_from_their_own_reports_and_turbidity(
    reefs: Engine, turbidity: int, token: str
) -> None:
    """reef-b's reports at the same times as reef-a's pair with none of reef-a's turbidity."""
    shop, other = shop_key(reefs), buoy_key(reefs, "reef-b")
    with reefs.begin() as conn:
        for reef, seen in ((turbidity, (4.8, 2.4, 9.6)), (other, (30.0, 30.0, 30.0))):
            for when, visibility_m in zip((T1, T2, T3), seen, strict=True):
                conn.execute(
                    insert(visibility_reports).values(
                        buoy_key=reef,
                        shop_key=shop,
                        observed_at=when,
                        received_at=when,
                        visibility_m=visibility_m,
                    )
                )
    with reefs.connect() as conn:
        found = conversions_for(conn, [turbidity, other], SETTINGS, NOW)
    assert (found[turbidity].source, found[turbidity].reports_used) == ("fitted", 3)
    assert found[turbidity].attenuation_per_ntu == pytest.approx(71 / 75)  # as worked above
    assert (found[other].source, found[other].reports_used) == ("default", 0)


def test_recent_reports_come_newest_first_with_the_buoys_estimate(
    reefs: Engine, turbidity: int, token: str
) -> None:
    shop = shop_key(reefs)
    with reefs.begin() as conn:
        store_report(conn, shop, turbidity, 4.8, T1, T1)
        store_report(conn, shop, turbidity, 9.6, T3, T3)
        store_report(conn, shop, turbidity, 30.0, NOW, NOW)
    conversion = default_conversion(SETTINGS)
    with reefs.connect() as conn:
        found = recent_reports(conn, turbidity, T1, conversion)
    assert found == [
        VisibilityReport("Blue Lagoon Divers", NOW, 30.0, None),  # no turbidity near it
        VisibilityReport("Blue Lagoon Divers", T3, 9.6, pytest.approx(4.8 / 0.58)),
        VisibilityReport("Blue Lagoon Divers", T1, 4.8, pytest.approx(4.8 / 1.08)),
    ]
    with reefs.connect() as conn:
        assert [r.observed_at for r in recent_reports(conn, turbidity, T2, conversion)] == [
            NOW,
            T3,
        ]


def test_turbidity_near_many_reports_is_paired_with_each(reefs: Engine) -> None:
    key = buoy_key(reefs, "reef-a")
    times = [NOW - timedelta(hours=2 * i) for i in range(123)]
    with reefs.begin() as conn:
        for i, t in enumerate(times):
            add_bucket(conn, key, t - timedelta(minutes=5), 2, i % 7 / 2)
    with reefs.connect() as conn:
        means = turbidity_means(conn, key, times, timedelta(minutes=30))
    assert means == pytest.approx([i % 7 / 2 for i in range(len(times))])


def test_two_taps_at_once_store_one_report(reefs: Engine, token: str) -> None:
    """Two web workers can take two taps at the same moment: the shop's lock makes the second
    wait for the first to commit and then see it."""
    shop, key = shop_key(reefs), buoy_key(reefs, "reef-a")
    outcomes: list[Stored] = []

    def second_tap() -> None:
        with reefs.begin() as conn:
            outcomes.append(store_report(conn, shop, key, 20.0, NOW, NOW))

    with reefs.begin() as conn:
        outcomes.append(store_report(conn, shop, key, 10.0, NOW, NOW))
        other = threading.Thread(target=second_tap)
        other.start()
        other.join(0.5)
        assert other.is_alive(), "the second tap should wait for the first to commit"
    other.join()
    assert outcomes == [Stored.STORED, Stored.REPEATED]
    assert [m for *_, m in stored_reports(reefs)] == [10.0]
