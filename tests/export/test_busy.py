"""At most ``max_concurrent`` downloads stream at once, from all clients together: each holds
one of the web's few request threads, and the live pages must always find one free. One more
is a 503 with Retry-After; a download that ends, however it ends, frees its slot."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.client import HTTPResponse

import pytest
from flask import Flask

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.export.blueprint import BUSY_RETRY_AFTER_S
from nemopi.configfile import ConfigError
from tests.dashboard.builders import NOW
from tests.export.conftest import Reef
from tests.served import served

EXPORT = "/api/export?buoy=reef-a&buoy=reef-b"
FREE_WITHIN_S = 5.0


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url  # counting downloads needs no second database


@pytest.fixture
def app(reef: Reef, db_url: str) -> Iterator[Flask]:
    config = {"database": {"url": db_url}, "threads": 3, "export": {"max_concurrent": 2}}
    application = create_app(config, clock=lambda: NOW)
    yield application
    webcontext.dispose(application)


def test_one_download_more_than_the_slots_is_refused_until_one_ends(app: Flask) -> None:
    researchers = [app.test_client() for _ in range(3)]
    for client in researchers:  # each its own address: the rate limit is not what refuses
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{researchers.index(client) + 1}"
    first, second = researchers[0].get(EXPORT), researchers[1].get(EXPORT)  # still streaming
    assert (first.status_code, second.status_code) == (200, 200)
    with researchers[2].get(EXPORT) as refused:
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == str(BUSY_RETRY_AFTER_S)
        body = refused.get_json()
        assert body["error"] == "busy"
        assert "2 exports are streaming" in body["message"]
    assert app.test_client().get("/api/overview").status_code == 200
    # Ended newest first: the test client streams all of them in this one thread, where an
    # open download keeps its request context pushed.
    assert second.get_data()  # read to the end, then closed, as a server closes it
    second.close()
    with researchers[2].get(EXPORT) as admitted:
        assert admitted.status_code == 200
        assert admitted.get_data().startswith(b"time,")
    first.close()


def open_download(url: str) -> HTTPResponse:
    """The export at ``url``, once a slot is free: the server frees a slot in its own thread
    just after the download before ended, so a few tries may meet a 503 first."""
    deadline = time.monotonic() + FREE_WITHIN_S
    while True:
        try:
            response: HTTPResponse = urllib.request.urlopen(url, timeout=10)
            return response
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_real_server_frees_the_slots_of_downloads_cut_off_or_finished(app: Flask) -> None:
    with served(app, threads=3) as base_url:
        for _ in range(3):  # three rounds of two: a slot that leaked would refuse round two
            cut_off = open_download(base_url + EXPORT)
            finished = open_download(base_url + EXPORT)
            assert cut_off.read(10) == b"time,buoy_"
            cut_off.close()
            assert finished.read().count(b"\n") == 8  # the header and seven samples
            finished.close()
        with urllib.request.urlopen(base_url + "/api/overview", timeout=10) as live:
            assert live.status == 200


def test_as_many_download_slots_as_threads_is_a_configuration_error(db_url: str) -> None:
    config = {"database": {"url": db_url}, "threads": 2, "export": {"max_concurrent": 2}}
    with pytest.raises(ConfigError, match=r"export.max_concurrent \(2\) must be below threads"):
        create_app(config)
