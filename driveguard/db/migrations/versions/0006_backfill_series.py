"""Backfill tells partial from complete, and its daily rows never collide with hourly ones.

- `storage_snapshot`'s primary key gains `granularity`: a daily row (Admin Reports backfill, or
  retention's downsampling) and the hourly (`raw`) row collected at the same midnight are two rows
  of two series, so a backfilled day is stored even where collection already ran at 00:00.
- `backfill_day`: one row per Reports day the backfill fetched, with its status (`partial` while
  Google answers `PARTIAL_DATA_AVAILABLE`, `complete`, or `gave_up` after the configured attempts),
  how many tries it took and how many users the last answer carried.

Revision ID: 0006_backfill_series
Revises: 0005_google_rate_budget
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_backfill_series"
down_revision = "0005_google_rate_budget"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On a partitioned table the new key is built on every partition (the partition key stays in it).
    op.drop_constraint("pk_storage_snapshot", "storage_snapshot", type_="primary")
    op.create_primary_key("pk_storage_snapshot", "storage_snapshot", ["account_id", "interval_start", "granularity"])
    op.create_table(
        "backfill_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reported_users", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("matched_accounts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('partial', 'complete', 'gave_up')", name=op.f("ck_backfill_day_status_known")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_backfill_day_attempts_non_negative")),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_backfill_day")),
    )
    op.create_index("ix_backfill_day_status", "backfill_day", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_backfill_day_status", table_name="backfill_day")
    op.drop_table("backfill_day")
    # Back to one row per (account, interval): the hourly row wins where a daily row shares its start.
    op.execute(
        "DELETE FROM storage_snapshot d USING storage_snapshot r "
        "WHERE d.granularity = 'daily' AND r.granularity = 'raw' "
        "AND d.account_id = r.account_id AND d.interval_start = r.interval_start"
    )
    op.drop_constraint("pk_storage_snapshot", "storage_snapshot", type_="primary")
    op.create_primary_key("pk_storage_snapshot", "storage_snapshot", ["account_id", "interval_start"])
