"""``nemopi demo`` as a newcomer runs it: it prints an address that shows three reefs, and
Ctrl-C stops every process it started."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nemopi.demo_configs import DEMO_BUOYS
from tests.brokers import free_port
from tests.e2e.cluster import ROOT, alive, descendants, kill_all, wait_until


def _page(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            return str(response.read().decode("utf-8"))
    except OSError:
        return ""


@pytest.mark.slow
def test_demo_shows_three_buoys_and_sigint_leaves_no_orphans(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nemopi.cli",
            "demo",
            "--data-dir",
            str(tmp_path),
            "--web-port",
            str(free_port()),
            "--speedup",
            "30",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    children: set[int] = set()
    try:
        assert demo.stdout is not None
        url = ""
        started = time.monotonic()
        for line in demo.stdout:
            found = re.match(r"Dashboard: (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "the demo never printed the dashboard's address"
        assert time.monotonic() - started < 60
        # The demo registers its buoys before they send anything, so wait for their data too.
        wait_until(
            lambda: (
                all(b.buoy_id in _page(url) for b in DEMO_BUOYS) and "water" in _page(url).lower()
            ),
            30,
            "the overview to show all three buoys and their water readings",
        )

        children = descendants(demo.pid)
        assert len(children) >= 6, "broker, ingest, web and three buoys should be running"
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0
        wait_until(
            lambda: not any(alive(pid) for pid in children), 10, "every child process to end"
        )
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        kill_all({pid for pid in children if alive(pid)})
        if demo.stdout:
            demo.stdout.close()
