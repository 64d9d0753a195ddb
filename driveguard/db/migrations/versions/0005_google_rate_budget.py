"""One Google request budget for the installation: `google_rate_budget`, a row per budget name.

Every collect task, process and Celery worker books its batch parts from the same row (locked
for the booking only), so the parts sent in any one-second window never exceed the budget and a
rate-limit answer slows everyone. The row holds the bookings of the last window (epoch seconds
and part counts) and the shared rate multiplier.

Revision ID: 0005_google_rate_budget
Revises: 0004_refresh_due_accounts
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0005_google_rate_budget"
down_revision = "0004_refresh_due_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "google_rate_budget",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("multiplier", sa.Float(), server_default=sa.text("1.0"), nullable=False),
        sa.Column("last_throttle_at", sa.Float(), nullable=True),
        sa.Column("sent_at", ARRAY(sa.Float()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("sent_parts", ARRAY(sa.Integer()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("multiplier > 0 AND multiplier <= 1", name="ck_google_rate_budget_multiplier"),
    )


def downgrade() -> None:
    op.drop_table("google_rate_budget")
