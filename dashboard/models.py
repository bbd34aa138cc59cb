"""The database schema (SQLAlchemy Core), the single source the migrations are checked against.

Raw data is insert-only: a row of ``samples`` or ``readings`` is never updated or deleted by
the dashboard. Both are keyed by (buoy, seq), the delivery contract's identity, so a re-sent
batch is absorbed by ``INSERT ... ON CONFLICT DO NOTHING``. Readings are narrow rows
(buoy key, seq, quantity code, value, sensor status) with no per-row time or text, so that
bulk inserts stay cheap: the time lives once per sample.

``latest_readings`` is a derived cache (one row per buoy and quantity, the reading with the
highest seq) so the overview page costs one small query whatever the history holds; it can be
rebuilt from ``readings`` at any time. ``quarantine`` keeps payloads the ingest rejected.
``calibrations`` keeps the calibration records buoys report, never updated either.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from dashboard.sqltypes import UTCDateTime

MAX_TOPIC_CHARS = 256
MAX_REASON_CHARS = 256
MAX_QUARANTINED_BYTES = 64 * 1024

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

buoys = Table(
    "buoys",
    metadata,
    Column("key", Integer, primary_key=True, comment="Compact key the other tables use."),
    Column("id", String(32), nullable=False, unique=True, comment="The buoy id on the wire."),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_heard", UTCDateTime, comment="When data or a live online status last arrived."),
    Column("online", Boolean, comment="From the retained status; NULL before any status."),
    Column("status_as_of", UTCDateTime),
    Column("status_valid_until", UTCDateTime),
    Column("next_report", UTCDateTime),
    Column("name", String(128)),
    Column("mooring_latitude", Double),
    Column("mooring_longitude", Double),
    Column("mooring_radius_m", Double),
    Column("timezone", String(64), comment="IANA name."),
    Column(
        "registered",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="Registered by an operator; data from others is quarantined.",
    ),
    Column("registered_at", UTCDateTime),
)

samples = Table(
    "samples",
    metadata,
    Column("buoy_key", Integer, ForeignKey("buoys.key"), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("clock", SmallInteger, nullable=False, comment="nemopi.wire.ClockSource"),
    Column("time_utc", UTCDateTime, comment="NULL while the clock was unsynced."),
    Column("boot", BigInteger, comment="Boot number, for unsynced samples."),
    Column("uptime_ms", BigInteger, comment="Milliseconds since that boot, for unsynced samples."),
    Column("received_at", UTCDateTime, nullable=False),
    Column("config_version", BigInteger, nullable=False),
    Column("calibration_version", BigInteger, nullable=False),
    CheckConstraint(
        "(clock = 0 AND time_utc IS NULL AND boot IS NOT NULL AND uptime_ms IS NOT NULL)"
        " OR (clock <> 0 AND time_utc IS NOT NULL AND boot IS NULL AND uptime_ms IS NULL)",
        name="time_matches_clock",
    ),
)

readings = Table(
    "readings",
    metadata,
    Column("buoy_key", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("quantity", SmallInteger, primary_key=True, comment="nemopi.catalogue code"),
    Column("value", Double, comment="NULL when the sensor status carries no value."),
    Column("status", SmallInteger, nullable=False, comment="nemopi.sensor_status.SensorStatus"),
    ForeignKeyConstraint(["buoy_key", "seq"], ["samples.buoy_key", "samples.seq"]),
    sqlite_with_rowid=False,
)

latest_readings = Table(
    "latest_readings",
    metadata,
    Column("buoy_key", Integer, ForeignKey("buoys.key"), primary_key=True),
    Column("quantity", SmallInteger, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("value", Double),
    Column("status", SmallInteger, nullable=False),
    ForeignKeyConstraint(["buoy_key", "seq"], ["samples.buoy_key", "samples.seq"]),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("topic", String(MAX_TOPIC_CHARS), nullable=False),
    Column("reason", String(MAX_REASON_CHARS), nullable=False),
    Column("payload", LargeBinary, nullable=False, comment="The first bytes of the payload."),
    Column("payload_size", Integer, nullable=False, comment="The payload's full length."),
)

# Quality control (dashboard/qc, docs/quality-control.md). QC looks up history by time, so the
# samples get an index on (buoy, time); flags live beside the readings, which QC never touches.
Index("ix_samples_buoy_key_time_utc", samples.c.buoy_key, samples.c.time_utc)

QC_VERSION_CHARS = 16

qc_configs = Table(
    "qc_configs",
    metadata,
    Column("version", String(QC_VERSION_CHARS), primary_key=True, comment="Content hash."),
    Column("resolved", Text, nullable=False, comment="Every threshold, as canonical JSON."),
    Column("source", Text, nullable=False, comment="The QC file as written; empty: defaults."),
    Column("first_used", UTCDateTime, nullable=False),
    Column("last_activated", UTCDateTime, nullable=False, comment="Newest: the current one."),
)

qc_flags = Table(
    "qc_flags",
    metadata,
    Column("buoy_key", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("quantity", SmallInteger, primary_key=True),
    Column(
        "qc_version", String(QC_VERSION_CHARS), ForeignKey("qc_configs.version"), primary_key=True
    ),
    Column("sensor", SmallInteger, comment="QARTOD flag from the sensor status."),
    Column("gross_range", SmallInteger),
    Column("spike", SmallInteger),
    Column("rate_of_change", SmallInteger),
    Column("flat_line", SmallInteger),
    Column("location", SmallInteger, comment="Latitude and longitude only."),
    Column("aggregate", SmallInteger, nullable=False),
    ForeignKeyConstraint(
        ["buoy_key", "seq", "quantity"],
        ["readings.buoy_key", "readings.seq", "readings.quantity"],
    ),
    sqlite_with_rowid=False,
)

# Calibrations (dashboard/calibrations.py, docs/calibration.md): the records a buoy reports in
# its status, insert-only like the raw data. A sample's calibration_version names the record
# that started it; the values stay as the buoy sent them, as canonical JSON text.
MAX_PART_CHARS = 64
MAX_PROCEDURE_CHARS = 256

calibrations = Table(
    "calibrations",
    metadata,
    Column("buoy_key", Integer, ForeignKey("buoys.key"), primary_key=True),
    Column(
        "version",
        BigInteger,
        primary_key=True,
        autoincrement=False,
        comment="The buoy's calibration version this record started.",
    ),
    Column("part", String(MAX_PART_CHARS), primary_key=True),
    Column("procedure", String(MAX_PROCEDURE_CHARS), nullable=False),
    Column("values_json", Text, nullable=False, comment="The values reported, canonical JSON."),
    Column("calibrated_at", UTCDateTime, nullable=False, comment="The buoy's UTC time of it."),
    Column("received_at", UTCDateTime, nullable=False, comment="When the dashboard got it."),
    Column("status_as_of", UTCDateTime, nullable=False, comment="as_of of the status it came in."),
    UniqueConstraint("buoy_key", "version"),  # a version names one record on the buoy
)

# The live dashboard (docs/dashboard.md). Roll-ups are a derived cache like latest_readings:
# per buoy, quantity and bucket, the statistics of the readings QC has not failed, recomputed
# whole for every bucket a stored sample or a new flag touches, so arrival order and duplicates
# cannot skew them; ``nemopi rollups rebuild`` recomputes them from the readings at any time.
rollups = Table(
    "rollups",
    metadata,
    Column("buoy_key", Integer, ForeignKey("buoys.key"), primary_key=True),
    Column("quantity", SmallInteger, primary_key=True),
    Column("period_s", Integer, primary_key=True, comment="Bucket length: 600, 3600, ..."),
    Column("bucket_start", UTCDateTime, primary_key=True),
    Column("n", Integer, nullable=False, comment="Values in the statistics (QC not failed)."),
    Column("n_suspect", Integer, nullable=False, comment="Of those, QC suspect (flag 3)."),
    Column("n_bad", Integer, nullable=False, comment="Left out: QC fail or missing, no value."),
    Column("value_sum", Double, comment="NULL when n is 0."),
    Column("value_min", Double),
    Column("value_max", Double),
    sqlite_with_rowid=False,
)

# Whether the ingest itself is alive, so that a dead ingest never looks like a calm sea.
ingest_heartbeats = Table(
    "ingest_heartbeats",
    metadata,
    Column("client_id", String(64), primary_key=True, comment="The worker's MQTT client id."),
    Column("started_at", UTCDateTime, nullable=False),
    Column("beat_at", UTCDateTime, nullable=False, comment="Last time the worker was working."),
    Column("connected", Boolean, nullable=False, comment="Connected to the broker at beat_at."),
    Column("last_stored_at", UTCDateTime, comment="Last commit that stored a new sample."),
)

# Dive shops report the visibility they saw; a shop signs in with its own secret link.
MAX_SHOP_NAME_CHARS = 128

shops = Table(
    "shops",
    metadata,
    Column("key", Integer, primary_key=True),
    Column("name", String(MAX_SHOP_NAME_CHARS), nullable=False, unique=True),
    Column("token_sha256", String(64), nullable=False, unique=True, comment="Of the link's token."),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, comment="Set: the link no longer signs in."),
)

visibility_reports = Table(
    "visibility_reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("buoy_key", Integer, ForeignKey("buoys.key"), nullable=False),
    Column("shop_key", Integer, ForeignKey("shops.key"), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False, comment="When the divers saw it."),
    Column("received_at", UTCDateTime, nullable=False),
    Column("visibility_m", Double, nullable=False),
)
Index(
    "ix_visibility_reports_buoy_key_observed_at",
    visibility_reports.c.buoy_key,
    visibility_reports.c.observed_at,
)
