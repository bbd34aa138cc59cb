"""Buoy registry: a name, the mooring (position and swing radius), the local time zone, and
whether (and when) the buoy was registered by its operator.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("buoys") as batch:
        batch.add_column(sa.Column("name", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("mooring_latitude", sa.Double(), nullable=True))
        batch.add_column(sa.Column("mooring_longitude", sa.Double(), nullable=True))
        batch.add_column(sa.Column("mooring_radius_m", sa.Double(), nullable=True))
        batch.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=True, comment="IANA name.")
        )
        batch.add_column(
            sa.Column(
                "registered",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="Registered by an operator; data from others is quarantined.",
            )
        )
        batch.add_column(sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("buoys") as batch:
        for column in (
            "registered_at",
            "registered",
            "timezone",
            "mooring_radius_m",
            "mooring_longitude",
            "mooring_latitude",
            "name",
        ):
            batch.drop_column(column)
