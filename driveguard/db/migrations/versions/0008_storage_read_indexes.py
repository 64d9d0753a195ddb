"""Indexes for the storage read API (`driveguard/storage/reads.py`), so its reads stay flat as
accounts and history grow:

- the account list sorts by usage percent, used bytes or last collection from `storage_latest`
  with the account id as the keyset tie-break: one (key, account_id) index each (scanned either way);
- the fastest growing accounts sort on the growth over a day and a week (expression indexes);
- sorting by email pages on (email, id);
- the email search (a substring, case-insensitive) uses a trigram index on lower(email) from the
  `pg_trgm` extension (trusted since PostgreSQL 13: the database owner may create it; it ships
  with the embedded PostgreSQL and the Debian packages);
- an account's alerts page newest first on (account_id, created_at, id).

Revision ID: 0008_storage_read_indexes
Revises: 0006_backfill_series
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0008_storage_read_indexes"
down_revision = "0006_backfill_series"
branch_labels = None
depends_on = None

LATEST_SORTS = {
    "ix_storage_latest_usage_percent": "usage_percent",
    "ix_storage_latest_usage_bytes": "usage_bytes",
    "ix_storage_latest_collected_at": "collected_at",
}

GROWTH_SORTS = {
    "ix_storage_latest_growth_24h": "usage_bytes - usage_bytes_24h_ago",
    "ix_storage_latest_growth_7d": "usage_bytes - usage_bytes_7d_ago",
}


def upgrade() -> None:
    for name, column in LATEST_SORTS.items():
        op.create_index(name, "storage_latest", [column, "account_id"], unique=False)
    for name, expression in GROWTH_SORTS.items():
        op.execute(f"CREATE INDEX {name} ON storage_latest (({expression}), account_id)")
    op.create_index("ix_google_account_email_id", "google_account", ["email", "id"], unique=False)
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_google_account_email_trgm ON google_account USING gin (lower(email) gin_trgm_ops)")
    op.create_index("ix_alert_account_created", "alert", ["account_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_account_created", table_name="alert")
    op.drop_index("ix_google_account_email_trgm", table_name="google_account")
    op.drop_index("ix_google_account_email_id", table_name="google_account")
    for name in reversed(GROWTH_SORTS):
        op.drop_index(name, table_name="storage_latest")
    for name in reversed(LATEST_SORTS):
        op.drop_index(name, table_name="storage_latest")
    # pg_trgm stays: other objects may use it, and keeping an extension costs nothing.
