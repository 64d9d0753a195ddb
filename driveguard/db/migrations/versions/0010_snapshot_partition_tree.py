"""storage_snapshot becomes a two-level partition tree, so retention can drop whole raw months:

    storage_snapshot            PARTITION BY LIST (granularity)
    ├── storage_snapshot_raw    FOR VALUES IN ('raw')   PARTITION BY RANGE (interval_start), one a month
    │   └── storage_snapshot_raw_pYYYYMM
    └── storage_snapshot_daily  FOR VALUES IN ('daily') PARTITION BY RANGE (interval_start), one a year
        └── storage_snapshot_daily_pYYYY

Raw (hourly) rows are kept for the retention window only, so a raw month is the unit retention
drops once all of it is past the window. Daily rows are kept for good and are small (one per account
and day, a 24th of the raw volume): a year per partition keeps a year of daily history (the longest
read) in one or two partitions and the partition count low for the planner.

There is no default partition any more: a row whose partition is missing is refused
("no partition of relation ... found for row", SQLSTATE 23514) and its transaction rolls back, so
nothing lands unseen in a catch-all that retention would never drop. Writers create what they need
first (`ensure_storage_snapshot_partition(at, granularity)`: collection's plan, the backfill, the
downsampling, and the cleanup DAG for the coming months); a refused write fails its task, which
retries.

The key (account_id, interval_start, granularity), the checks and the foreign key are the same;
the interval index becomes (interval_start, account_id), which the per-interval reads of the
collection (coverage, gaps, quality, keyset by account) scan in order.

Cost on a large table: the rows are copied into the new tree (INSERT ... SELECT, then the key,
index and foreign key are built on the loaded partitions, which is faster than maintaining them
row by row). The migration holds an ACCESS EXCLUSIVE lock on storage_snapshot from start to commit:
reads and writes of the history wait. It takes the time of a table copy plus three index builds
(measured on the 2-core development machine, shared: 1 million rows in 11 s up and 10 s down,
linear, so about 2 minutes per 10 million rows) and twice the table's disk space until the commit. An operator runs it in a quiet window: pause the DAGs (`airflow dags pause`),
run `driveguard db-upgrade` (or `make migrate`), unpause. The downgrade copies the rows back into
the single-level tree (monthly partitions, with its default partition) the same way.

Revision ID: 0010_snapshot_partition_tree
Revises: 0007_sealed_targets
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0010_snapshot_partition_tree"
down_revision = "0009_read_aggregates"
branch_labels = None
depends_on = None

COLUMNS = (
    "account_id, interval_start, interval_end, collected_at, usage_bytes, usage_in_drive_bytes, "
    "usage_in_trash_bytes, limit_bytes, source, granularity"
)

TABLE_BODY = """
    account_id uuid NOT NULL,
    interval_start timestamptz NOT NULL,
    interval_end timestamptz NOT NULL,
    collected_at timestamptz NOT NULL DEFAULT now(),
    usage_bytes bigint NOT NULL,
    usage_in_drive_bytes bigint,
    usage_in_trash_bytes bigint,
    limit_bytes bigint,
    source varchar(32) NOT NULL DEFAULT 'drive_about',
    granularity varchar(8) NOT NULL DEFAULT 'raw',
    CONSTRAINT ck_storage_snapshot_usage_non_negative CHECK (usage_bytes >= 0),
    CONSTRAINT ck_storage_snapshot_interval_positive CHECK (interval_end > interval_start),
    CONSTRAINT ck_storage_snapshot_granularity_known CHECK (granularity IN ('raw', 'daily'))
"""

CONSTRAINTS_AFTER_LOAD = (
    "ALTER TABLE storage_snapshot ADD CONSTRAINT pk_storage_snapshot "
    "PRIMARY KEY (account_id, interval_start, granularity)",
    "ALTER TABLE storage_snapshot ADD CONSTRAINT fk_storage_snapshot_account_id_google_account "
    "FOREIGN KEY (account_id) REFERENCES google_account (id) ON DELETE CASCADE",
)

# A raw month or a daily year, created empty and attached (SHARE UPDATE EXCLUSIVE on the parent, so
# reads and writes of the other partitions go on). Idempotent; concurrent callers serialise on an
# advisory lock. An unknown granularity is refused: it has no subtree.
ENSURE_PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION ensure_storage_snapshot_partition(p_at timestamptz, p_granularity text DEFAULT 'raw')
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
    unit text := CASE p_granularity WHEN 'raw' THEN 'month' WHEN 'daily' THEN 'year' END;
    parent text := 'storage_snapshot_' || p_granularity;
    range_start timestamptz;
    range_end timestamptz;
    part text;
BEGIN
    IF unit IS NULL THEN
        RAISE EXCEPTION 'unknown snapshot granularity: %', p_granularity USING ERRCODE = '22023';
    END IF;
    range_start := date_trunc(unit, p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    range_end := (date_trunc(unit, p_at AT TIME ZONE 'UTC') + CAST('1 ' || unit AS interval)) AT TIME ZONE 'UTC';
    part := parent || '_p' || to_char(p_at AT TIME ZONE 'UTC', CASE unit WHEN 'month' THEN 'YYYYMM' ELSE 'YYYY' END);
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('storage_snapshot_partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, part, range_start, range_end);
    RETURN part;
END
$fn$;
"""

# Retention's drop of one leaf (a raw month past the window). Only a leaf of the snapshot tree can
# be named. Dropping takes an ACCESS EXCLUSIVE lock on the subtree's parent for an instant; the
# lock_timeout keeps the drop from queueing every history read behind a long one: it fails with
# SQLSTATE 55P03 instead, and the next cleanup run drops the partition.
DROP_PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION drop_storage_snapshot_partition(p_name text) RETURNS boolean
LANGUAGE plpgsql SET lock_timeout = '5s' AS $fn$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_partition_tree(CAST('storage_snapshot' AS regclass)) t
        WHERE t.isleaf AND t.level = 2 AND t.relid = to_regclass(p_name)
    ) THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE %I', p_name);
    RETURN true;
END
$fn$;
"""

# The function of revisions 0001-0007 (monthly partitions beside a default one), for the downgrade.
OLD_ENSURE_PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION ensure_storage_snapshot_partition(p_at timestamptz) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    month_start timestamptz := date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    month_end timestamptz := (date_trunc('month', p_at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    part text := 'storage_snapshot_p' || to_char(p_at AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('storage_snapshot_partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE storage_snapshot INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM storage_snapshot_default WHERE interval_start >= $1 AND interval_start < $2 '
        'RETURNING *) INSERT INTO %I SELECT * FROM moved', part
    ) USING month_start, month_end;
    EXECUTE format(
        'ALTER TABLE storage_snapshot ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        part, month_start, month_end
    );
    RETURN part;
END
$fn$;
"""


def _set_aside_old_tree() -> None:
    """Rename the current table and its relation-named objects, so the new ones take the names."""
    op.execute("LOCK TABLE storage_snapshot IN ACCESS EXCLUSIVE MODE")
    op.execute("ALTER TABLE storage_snapshot RENAME TO storage_snapshot_old")
    op.execute("ALTER TABLE storage_snapshot_old RENAME CONSTRAINT pk_storage_snapshot TO pk_storage_snapshot_old")
    op.execute("ALTER INDEX ix_storage_snapshot_interval_start RENAME TO ix_storage_snapshot_old_interval_start")


def upgrade() -> None:
    _set_aside_old_tree()
    op.execute("DROP FUNCTION ensure_storage_snapshot_partition(timestamptz)")
    op.execute(f"CREATE TABLE storage_snapshot ({TABLE_BODY}) PARTITION BY LIST (granularity)")
    for series in ("raw", "daily"):
        op.execute(
            f"CREATE TABLE storage_snapshot_{series} PARTITION OF storage_snapshot "
            f"FOR VALUES IN ('{series}') PARTITION BY RANGE (interval_start)"
        )
    op.execute(ENSURE_PARTITION_FUNCTION)
    op.execute(DROP_PARTITION_FUNCTION)
    # Every month (raw) and year (daily) that holds rows, then this month and the next two.
    op.execute(
        "SELECT ensure_storage_snapshot_partition(at, granularity) FROM ("
        " SELECT DISTINCT date_trunc('month', interval_start, 'UTC') AS at, granularity FROM storage_snapshot_old"
        " UNION SELECT date_trunc('month', now(), 'UTC') + make_interval(months => ahead), series"
        " FROM generate_series(0, 2) AS ahead, unnest(ARRAY['raw', 'daily']) AS series"
        ") needed"
    )
    op.execute(f"INSERT INTO storage_snapshot ({COLUMNS}) SELECT {COLUMNS} FROM storage_snapshot_old")
    for statement in CONSTRAINTS_AFTER_LOAD:
        op.execute(statement)
    op.execute("CREATE INDEX ix_storage_snapshot_interval_start ON storage_snapshot (interval_start, account_id)")
    op.execute("DROP TABLE storage_snapshot_old")


def downgrade() -> None:
    op.execute("LOCK TABLE storage_snapshot IN ACCESS EXCLUSIVE MODE")
    op.execute("ALTER TABLE storage_snapshot RENAME TO storage_snapshot_old")
    op.execute("ALTER TABLE storage_snapshot_old RENAME CONSTRAINT pk_storage_snapshot TO pk_storage_snapshot_old")
    op.execute("ALTER INDEX ix_storage_snapshot_interval_start RENAME TO ix_storage_snapshot_old_interval_start")
    op.execute("DROP FUNCTION drop_storage_snapshot_partition(text)")
    op.execute("DROP FUNCTION ensure_storage_snapshot_partition(timestamptz, text)")
    op.execute(f"CREATE TABLE storage_snapshot ({TABLE_BODY}) PARTITION BY RANGE (interval_start)")
    op.execute("CREATE TABLE storage_snapshot_default PARTITION OF storage_snapshot DEFAULT")
    op.execute(OLD_ENSURE_PARTITION_FUNCTION)
    op.execute(
        "SELECT ensure_storage_snapshot_partition(at) FROM ("
        " SELECT DISTINCT date_trunc('month', interval_start, 'UTC') AS at FROM storage_snapshot_old) needed"
    )
    op.execute(f"INSERT INTO storage_snapshot ({COLUMNS}) SELECT {COLUMNS} FROM storage_snapshot_old")
    for statement in CONSTRAINTS_AFTER_LOAD:
        op.execute(statement)
    op.execute("CREATE INDEX ix_storage_snapshot_interval_start ON storage_snapshot (interval_start)")
    op.execute("DROP TABLE storage_snapshot_old")
