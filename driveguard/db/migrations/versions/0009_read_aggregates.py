"""Pre-aggregates for the admin reads, so their cost stays flat in the number of accounts:

- `storage_latest_totals`: the overview header (accounts per level, unlimited, total usage),
  maintained by statement triggers on `storage_latest` from their transition tables, so every
  write (the read model's refresh, an erasure's cascade) adds exactly its delta;
- `account_status_totals`: accounts per grant status for the account list's `total`, maintained
  by triggers on `google_account` (the update trigger fires only when `status` changes, so token
  refreshes pay nothing).

Both are split into 16 slots picked by the writing backend (`pg_backend_pid() % 16`): concurrent
collect shards add to different rows instead of queueing on one; readers sum the slots. The
triggers see every write, whoever makes it, so the totals cannot drift from a recount.

- `ix_storage_latest_overview` and `ix_storage_latest_level_overview` serve the overview's order
  (fullest first, unlimited last, then the account id: a keyset), all levels or one; and
  `ix_storage_latest_interval_end` its newest interval (max) without a scan.

Revision ID: 0009_read_aggregates
Revises: 0007_sealed_targets
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_read_aggregates"
down_revision = "0007_sealed_targets"
branch_labels = None
depends_on = None

SLOTS = 16
OVERVIEW_KEY = "(coalesce(usage_percent, -1))"
"""The overview's order, fullest first and unlimited quotas (no percent) last, as one sortable value."""
SLOT = f"pg_backend_pid() % {SLOTS}"

# The rows a statement changed, signed: + for what is there now, - for what was there before.
_STORAGE_CHANGES = {
    "insert": "SELECT 1 AS sign, level, limit_bytes, usage_bytes FROM new_rows",
    "delete": "SELECT -1 AS sign, level, limit_bytes, usage_bytes FROM old_rows",
    "update": "SELECT 1 AS sign, level, limit_bytes, usage_bytes FROM new_rows "
    "UNION ALL SELECT -1, level, limit_bytes, usage_bytes FROM old_rows",
}

_STORAGE_FUNCTION = """
CREATE FUNCTION storage_latest_totals_{op}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO storage_latest_totals AS t (slot, accounts, normal, warning, critical, unlimited, usage_bytes)
    SELECT {slot}, sum(d.sign),
           coalesce(sum(d.sign) FILTER (WHERE d.level = 'normal'), 0),
           coalesce(sum(d.sign) FILTER (WHERE d.level = 'warning'), 0),
           coalesce(sum(d.sign) FILTER (WHERE d.level = 'critical'), 0),
           coalesce(sum(d.sign) FILTER (WHERE d.limit_bytes IS NULL), 0),
           sum(d.sign * d.usage_bytes::numeric)
    FROM ({changes}) d
    HAVING count(*) > 0
    ON CONFLICT (slot) DO UPDATE SET
        accounts = t.accounts + EXCLUDED.accounts,
        normal = t.normal + EXCLUDED.normal,
        warning = t.warning + EXCLUDED.warning,
        critical = t.critical + EXCLUDED.critical,
        unlimited = t.unlimited + EXCLUDED.unlimited,
        usage_bytes = t.usage_bytes + EXCLUDED.usage_bytes;
    RETURN NULL;
END
$$
"""

_STATUS_CHANGES = {
    "insert": "SELECT status, count(*) AS n FROM new_rows GROUP BY status",
    "delete": "SELECT status, -count(*) AS n FROM old_rows GROUP BY status",
    # Row trigger, only when the status changed (see the trigger's WHEN).
    "update": "SELECT NEW.status, 1::bigint UNION ALL SELECT OLD.status, -1::bigint",
}

_STATUS_FUNCTION = """
CREATE FUNCTION account_status_totals_{op}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_status_totals AS t (slot, status, accounts)
    SELECT {slot}, d.status, d.n FROM ({changes}) AS d (status, n) ORDER BY d.status
    ON CONFLICT (slot, status) DO UPDATE SET accounts = t.accounts + EXCLUDED.accounts;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "storage_latest_totals",
        sa.Column("slot", sa.SmallInteger(), primary_key=True),
        sa.Column("accounts", sa.BigInteger(), nullable=False),
        sa.Column("normal", sa.BigInteger(), nullable=False),
        sa.Column("warning", sa.BigInteger(), nullable=False),
        sa.Column("critical", sa.BigInteger(), nullable=False),
        sa.Column("unlimited", sa.BigInteger(), nullable=False),
        sa.Column("usage_bytes", sa.Numeric(), nullable=False),
    )
    op.create_table(
        "account_status_totals",
        sa.Column("slot", sa.SmallInteger(), primary_key=True),
        sa.Column(
            "status",
            postgresql.ENUM(name="account_status", create_type=False),
            primary_key=True,
        ),
        sa.Column("accounts", sa.BigInteger(), nullable=False),
    )
    # Existing rows, counted once (slot 0) in the migration's transaction, before the triggers exist.
    op.execute(
        "INSERT INTO storage_latest_totals SELECT 0, count(*), "
        "count(*) FILTER (WHERE level = 'normal'), count(*) FILTER (WHERE level = 'warning'), "
        "count(*) FILTER (WHERE level = 'critical'), count(*) FILTER (WHERE limit_bytes IS NULL), "
        "coalesce(sum(usage_bytes), 0) FROM storage_latest"
    )
    op.execute("INSERT INTO account_status_totals SELECT 0, status, count(*) FROM google_account GROUP BY status")
    for change, changes in _STORAGE_CHANGES.items():
        op.execute(_STORAGE_FUNCTION.format(op=change, slot=SLOT, changes=changes))
        tables = {"insert": "NEW TABLE AS new_rows", "delete": "OLD TABLE AS old_rows"}.get(
            change, "OLD TABLE AS old_rows NEW TABLE AS new_rows"
        )
        op.execute(
            f"CREATE TRIGGER storage_latest_totals_{change} AFTER {change.upper()} ON storage_latest "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION storage_latest_totals_{change}()"
        )
    for change, changes in _STATUS_CHANGES.items():
        op.execute(_STATUS_FUNCTION.format(op=change, slot=SLOT, changes=changes))
    op.execute(
        "CREATE TRIGGER account_status_totals_insert AFTER INSERT ON google_account REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION account_status_totals_insert()"
    )
    op.execute(
        "CREATE TRIGGER account_status_totals_delete AFTER DELETE ON google_account REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION account_status_totals_delete()"
    )
    op.execute(
        "CREATE TRIGGER account_status_totals_update AFTER UPDATE OF status ON google_account FOR EACH ROW "
        "WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION account_status_totals_update()"
    )
    op.execute(f"CREATE INDEX ix_storage_latest_overview ON storage_latest ({OVERVIEW_KEY}, account_id)")
    op.execute(f"CREATE INDEX ix_storage_latest_level_overview ON storage_latest (level, {OVERVIEW_KEY}, account_id)")
    op.create_index("ix_storage_latest_interval_end", "storage_latest", ["interval_end"])


def downgrade() -> None:
    op.drop_index("ix_storage_latest_interval_end", table_name="storage_latest")
    op.drop_index("ix_storage_latest_level_overview", table_name="storage_latest")
    op.drop_index("ix_storage_latest_overview", table_name="storage_latest")
    for change in _STATUS_CHANGES:
        op.execute(f"DROP TRIGGER account_status_totals_{change} ON google_account")
        op.execute(f"DROP FUNCTION account_status_totals_{change}()")
    for change in _STORAGE_CHANGES:
        op.execute(f"DROP TRIGGER storage_latest_totals_{change} ON storage_latest")
        op.execute(f"DROP FUNCTION storage_latest_totals_{change}()")
    op.drop_table("account_status_totals")
    op.drop_table("storage_latest_totals")
