"""Calibrations: the calibration records buoys report in their status, one row per buoy,
calibration version and part, insert-only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("buoy_key", sa.Integer(), nullable=False),
        sa.Column(
            "version",
            sa.BigInteger(),
            autoincrement=False,
            nullable=False,
            comment="The buoy's calibration version this record started.",
        ),
        sa.Column("part", sa.String(length=64), nullable=False),
        sa.Column("procedure", sa.String(length=256), nullable=False),
        sa.Column(
            "values_json", sa.Text(), nullable=False, comment="The values reported, canonical JSON."
        ),
        sa.Column(
            "calibrated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="The buoy's UTC time of it.",
        ),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the dashboard got it.",
        ),
        sa.Column(
            "status_as_of",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="as_of of the status it came in.",
        ),
        sa.ForeignKeyConstraint(
            ["buoy_key"], ["buoys.key"], name=op.f("fk_calibrations_buoy_key_buoys")
        ),
        sa.PrimaryKeyConstraint("buoy_key", "version", "part", name=op.f("pk_calibrations")),
        sa.UniqueConstraint("buoy_key", "version", name=op.f("uq_calibrations_buoy_key_version")),
    )


def downgrade() -> None:
    op.drop_table("calibrations")
