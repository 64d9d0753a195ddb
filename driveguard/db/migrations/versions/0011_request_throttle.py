"""Throttle buckets counted atomically in PostgreSQL (`driveguard.identity.throttle`): admin
password sign-ins per (user name, address) and per address, and Google sign-in starts and
callbacks per address. Replaces counting failed sign-ins in the audit log, which raced (count,
then verify, then insert: parallel guesses all saw the same count).

Revision ID: 0011_request_throttle
Revises: 0007_sealed_targets
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_request_throttle"
down_revision = "0010_snapshot_partition_tree"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_throttle",
        sa.Column("bucket", sa.String(length=400), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_allowed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_request_throttle")),
    )
    op.create_index("ix_request_throttle_window_started_at", "request_throttle", ["window_started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_request_throttle_window_started_at", table_name="request_throttle")
    op.drop_table("request_throttle")
