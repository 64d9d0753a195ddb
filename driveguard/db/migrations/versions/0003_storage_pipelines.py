"""Storage pipelines: the pre-aggregated `storage_latest` read model and cleanup indexes.

`storage_latest` holds one row per account with its newest snapshot, level and the usage a
day and a week earlier, refreshed by the collection pipeline after each interval; the
overview reads it instead of scanning the partitioned history.

Revision ID: 0003_storage_pipelines
Revises: 0002_oauth_login_state
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_storage_pipelines"
down_revision = "0002_oauth_login_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storage_latest",
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("usage_in_drive_bytes", sa.BigInteger(), nullable=True),
        sa.Column("usage_in_trash_bytes", sa.BigInteger(), nullable=True),
        sa.Column("limit_bytes", sa.BigInteger(), nullable=True),
        sa.Column("usage_percent", sa.Float(), nullable=True),
        sa.Column(
            "level",
            postgresql.ENUM("normal", "warning", "critical", name="warning_level", create_type=False),
            server_default="normal",
            nullable=False,
        ),
        sa.Column("usage_bytes_24h_ago", sa.BigInteger(), nullable=True),
        sa.Column("usage_bytes_7d_ago", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["google_account.id"],
            name=op.f("fk_storage_latest_account_id_google_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_storage_latest")),
    )
    op.create_index("ix_storage_latest_level", "storage_latest", ["level"], unique=False)
    op.create_index(
        "ix_google_account_erasure_requested",
        "google_account",
        ["erasure_requested_at"],
        unique=False,
        postgresql_where=sa.text("erasure_requested_at IS NOT NULL"),
    )
    op.create_index(
        "ix_user_session_revoked_at",
        "user_session",
        ["revoked_at"],
        unique=False,
        postgresql_where=sa.text("revoked_at IS NOT NULL"),
    )
    op.create_index(
        "ix_notification_outbox_sent_at",
        "notification_outbox",
        ["sent_at"],
        unique=False,
        postgresql_where=sa.text("sent_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_notification_outbox_sent_at", table_name="notification_outbox")
    op.drop_index("ix_user_session_revoked_at", table_name="user_session")
    op.drop_index("ix_google_account_erasure_requested", table_name="google_account")
    op.drop_index("ix_storage_latest_level", table_name="storage_latest")
    op.drop_table("storage_latest")
