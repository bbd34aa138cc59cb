"""The live dashboard: chart roll-ups, ingest heartbeats, dive shops and their visibility
reports.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("buoy_key", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.SmallInteger(), nullable=False),
        sa.Column(
            "period_s", sa.Integer(), nullable=False, comment="Bucket length: 600, 3600, ..."
        ),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "n", sa.Integer(), nullable=False, comment="Values in the statistics (QC not failed)."
        ),
        sa.Column(
            "n_suspect", sa.Integer(), nullable=False, comment="Of those, QC suspect (flag 3)."
        ),
        sa.Column(
            "n_bad",
            sa.Integer(),
            nullable=False,
            comment="Left out: QC fail or missing, no value.",
        ),
        sa.Column("value_sum", sa.Double(), nullable=True, comment="NULL when n is 0."),
        sa.Column("value_min", sa.Double(), nullable=True),
        sa.Column("value_max", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["buoy_key"], ["buoys.key"], name=op.f("fk_rollups_buoy_key_buoys")
        ),
        sa.PrimaryKeyConstraint(
            "buoy_key", "quantity", "period_s", "bucket_start", name=op.f("pk_rollups")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ingest_heartbeats",
        sa.Column(
            "client_id",
            sa.String(length=64),
            nullable=False,
            comment="The worker's MQTT client id.",
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "beat_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Last time the worker was working.",
        ),
        sa.Column(
            "connected", sa.Boolean(), nullable=False, comment="Connected to the broker at beat_at."
        ),
        sa.Column(
            "last_stored_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Last commit that stored a new sample.",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_ingest_heartbeats")),
    )
    op.create_table(
        "shops",
        sa.Column("key", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "token_sha256", sa.String(length=64), nullable=False, comment="Of the link's token."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "revoked_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Set: the link no longer signs in.",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_shops")),
        sa.UniqueConstraint("name", name=op.f("uq_shops_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_shops_token_sha256")),
    )
    op.create_table(
        "visibility_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buoy_key", sa.Integer(), nullable=False),
        sa.Column("shop_key", sa.Integer(), nullable=False),
        sa.Column(
            "observed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the divers saw it.",
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visibility_m", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buoy_key"], ["buoys.key"], name=op.f("fk_visibility_reports_buoy_key_buoys")
        ),
        sa.ForeignKeyConstraint(
            ["shop_key"], ["shops.key"], name=op.f("fk_visibility_reports_shop_key_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visibility_reports")),
    )
    op.create_index(
        op.f("ix_visibility_reports_buoy_key_observed_at"),
        "visibility_reports",
        ["buoy_key", "observed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_visibility_reports_buoy_key_observed_at"), table_name="visibility_reports"
    )
    op.drop_table("visibility_reports")
    op.drop_table("shops")
    op.drop_table("ingest_heartbeats")
    op.drop_table("rollups")
