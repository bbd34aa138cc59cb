"""First schema: buoys, samples, readings, latest readings, quarantine.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 12:47:14.453258
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "buoys",
        sa.Column("key", sa.Integer(), nullable=False, comment="Compact key the other tables use."),
        sa.Column("id", sa.String(length=32), nullable=False, comment="The buoy id on the wire."),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "last_heard",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When data or a live online status last arrived.",
        ),
        sa.Column(
            "online",
            sa.Boolean(),
            nullable=True,
            comment="From the retained status; NULL before any status.",
        ),
        sa.Column("status_as_of", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_report", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_buoys")),
        sa.UniqueConstraint("id", name=op.f("uq_buoys_id")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=False),
        sa.Column(
            "payload", sa.LargeBinary(), nullable=False, comment="The first bytes of the payload."
        ),
        sa.Column(
            "payload_size", sa.Integer(), nullable=False, comment="The payload's full length."
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    op.create_table(
        "samples",
        sa.Column("buoy_key", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("clock", sa.SmallInteger(), nullable=False, comment="nemopi.wire.ClockSource"),
        sa.Column(
            "time_utc",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="NULL while the clock was unsynced.",
        ),
        sa.Column(
            "boot", sa.BigInteger(), nullable=True, comment="Boot number, for unsynced samples."
        ),
        sa.Column(
            "uptime_ms",
            sa.BigInteger(),
            nullable=True,
            comment="Milliseconds since that boot, for unsynced samples.",
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("config_version", sa.BigInteger(), nullable=False),
        sa.Column("calibration_version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "(clock = 0 AND time_utc IS NULL AND boot IS NOT NULL AND uptime_ms IS NOT NULL)"
            " OR (clock <> 0 AND time_utc IS NOT NULL AND boot IS NULL AND uptime_ms IS NULL)",
            name=op.f("ck_samples_time_matches_clock"),
        ),
        sa.ForeignKeyConstraint(
            ["buoy_key"], ["buoys.key"], name=op.f("fk_samples_buoy_key_buoys")
        ),
        sa.PrimaryKeyConstraint("buoy_key", "seq", name=op.f("pk_samples")),
    )
    op.create_table(
        "latest_readings",
        sa.Column("buoy_key", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.SmallInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buoy_key", "seq"],
            ["samples.buoy_key", "samples.seq"],
            name=op.f("fk_latest_readings_buoy_key_seq_samples"),
        ),
        sa.ForeignKeyConstraint(
            ["buoy_key"], ["buoys.key"], name=op.f("fk_latest_readings_buoy_key_buoys")
        ),
        sa.PrimaryKeyConstraint("buoy_key", "quantity", name=op.f("pk_latest_readings")),
    )
    op.create_table(
        "readings",
        sa.Column("buoy_key", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("quantity", sa.SmallInteger(), nullable=False, comment="nemopi.catalogue code"),
        sa.Column(
            "value",
            sa.Double(),
            nullable=True,
            comment="NULL when the sensor status carries no value.",
        ),
        sa.Column(
            "status", sa.SmallInteger(), nullable=False, comment="nemopi.sensor_status.SensorStatus"
        ),
        sa.ForeignKeyConstraint(
            ["buoy_key", "seq"],
            ["samples.buoy_key", "samples.seq"],
            name=op.f("fk_readings_buoy_key_seq_samples"),
        ),
        sa.PrimaryKeyConstraint("buoy_key", "seq", "quantity", name=op.f("pk_readings")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("readings")
    op.drop_table("latest_readings")
    op.drop_table("samples")
    op.drop_table("quarantine")
    op.drop_table("buoys")
