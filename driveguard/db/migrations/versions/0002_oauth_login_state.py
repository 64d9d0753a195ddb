"""One-time sign-in state: a row per started Google sign-in, consumed by the callback.

Revision ID: 0002_oauth_login_state
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_oauth_login_state"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_login_state",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("state_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("browser_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("next_path", sa.String(length=512), nullable=True),
        sa.Column("prompt", sa.String(length=32), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_login_state")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_login_state_state_hash")),
    )
    op.create_index("ix_oauth_login_state_expires_at", "oauth_login_state", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_oauth_login_state_expires_at", table_name="oauth_login_state")
    op.drop_table("oauth_login_state")
