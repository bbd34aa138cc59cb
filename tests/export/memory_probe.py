"""Run as a process of its own: export the first ``rows`` samples of a database as CSV through
the app and print the body's size and the process's peak RSS, as JSON.

Usage: python -m tests.export.memory_probe DATABASE_URL ROWS
"""

from __future__ import annotations

import json
import resource
import sys
from datetime import timedelta

from dashboard import webcontext
from dashboard.app import create_app
from dashboard.export.blueprint import SETTINGS
from dashboard.export.settings import ExportSettings
from tests.export.conftest import T0


def main(url: str, rows: int) -> None:
    app = create_app({"database": {"url": url}})
    app.extensions[SETTINGS] = ExportSettings(max_rows=10**7)
    end = (T0 + timedelta(minutes=rows)).isoformat().replace("+00:00", "Z")
    response = app.test_client().get(f"/api/export?end={end}", buffered=False)
    size = sum(len(block) for block in response.iter_encoded())
    response.close()
    webcontext.dispose(app)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump({"status": response.status_code, "bytes": size, "peak_rss_mb": peak_mb}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
