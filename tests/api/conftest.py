"""The query API's tests use the export tests' reef: two buoys whose every value is known."""

from tests.dashboard.conftest import db_url, engine, sqlite_engine, sqlite_url  # noqa: F401
from tests.export.conftest import app, client, reef  # noqa: F401
