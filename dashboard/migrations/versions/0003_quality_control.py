"""Quality control: QC configurations by version, per-reading QARTOD flags, and an index on
sample time for the bounded history lookups QC makes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FLAG_COLUMNS = ("gross_range", "spike", "rate_of_change", "flat_line")


def upgrade() -> None:
    op.create_index(
        op.f("ix_samples_buoy_key_time_utc"), "samples", ["buoy_key", "time_utc"], unique=False
    )
    op.create_table(
        "qc_configs",
        sa.Column("version", sa.String(length=16), nullable=False, comment="Content hash."),
        sa.Column(
            "resolved", sa.Text(), nullable=False, comment="Every threshold, as canonical JSON."
        ),
        sa.Column(
            "source",
            sa.Text(),
            nullable=False,
            comment="The QC file as written; empty: defaults.",
        ),
        sa.Column("first_used", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "last_activated",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Newest: the current one.",
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_qc_configs")),
    )
    op.create_table(
        "qc_flags",
        sa.Column("buoy_key", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("quantity", sa.SmallInteger(), nullable=False),
        sa.Column("qc_version", sa.String(length=16), nullable=False),
        sa.Column(
            "sensor",
            sa.SmallInteger(),
            nullable=True,
            comment="QARTOD flag from the sensor status.",
        ),
        *(sa.Column(name, sa.SmallInteger(), nullable=True) for name in FLAG_COLUMNS),
        sa.Column(
            "location", sa.SmallInteger(), nullable=True, comment="Latitude and longitude only."
        ),
        sa.Column("aggregate", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buoy_key", "seq", "quantity"],
            ["readings.buoy_key", "readings.seq", "readings.quantity"],
            name=op.f("fk_qc_flags_buoy_key_seq_quantity_readings"),
        ),
        sa.ForeignKeyConstraint(
            ["qc_version"],
            ["qc_configs.version"],
            name=op.f("fk_qc_flags_qc_version_qc_configs"),
        ),
        sa.PrimaryKeyConstraint(
            "buoy_key", "seq", "quantity", "qc_version", name=op.f("pk_qc_flags")
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("qc_flags")
    op.drop_table("qc_configs")
    op.drop_index(op.f("ix_samples_buoy_key_time_utc"), table_name="samples")
