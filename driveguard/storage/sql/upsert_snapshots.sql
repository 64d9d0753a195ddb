-- One snapshot per account per interval, many rows in one statement (parallel arrays).
-- A rerun of the same interval with the same figures writes nothing (the WHERE on DO UPDATE);
-- changed figures update the row in place. The result tells inserted rows from updated ones
-- (rows left untouched are not returned). `existing` sees the table as it was before this
-- statement, like every CTE of one statement.
WITH input AS (
    SELECT r.account_id, r.usage_bytes, r.usage_in_drive_bytes, r.usage_in_trash_bytes, r.limit_bytes
    FROM unnest(
        CAST(:account_ids AS uuid[]),
        CAST(:usage_bytes AS bigint[]),
        CAST(:usage_in_drive_bytes AS bigint[]),
        CAST(:usage_in_trash_bytes AS bigint[]),
        CAST(:limit_bytes AS bigint[])
    ) AS r(account_id, usage_bytes, usage_in_drive_bytes, usage_in_trash_bytes, limit_bytes)
), existing AS (
    SELECT s.account_id
    FROM storage_snapshot s
    WHERE s.interval_start = :interval_start
      AND s.account_id IN (SELECT account_id FROM input)
), upserted AS (
    INSERT INTO storage_snapshot AS s (
        account_id, interval_start, interval_end, collected_at, usage_bytes,
        usage_in_drive_bytes, usage_in_trash_bytes, limit_bytes, source, granularity
    )
    SELECT i.account_id, :interval_start, :interval_end, :collected_at, i.usage_bytes,
           i.usage_in_drive_bytes, i.usage_in_trash_bytes, i.limit_bytes, :source, :granularity
    FROM input i
    ON CONFLICT (account_id, interval_start) DO UPDATE SET
        interval_end = EXCLUDED.interval_end,
        collected_at = EXCLUDED.collected_at,
        usage_bytes = EXCLUDED.usage_bytes,
        usage_in_drive_bytes = EXCLUDED.usage_in_drive_bytes,
        usage_in_trash_bytes = EXCLUDED.usage_in_trash_bytes,
        limit_bytes = EXCLUDED.limit_bytes,
        source = EXCLUDED.source,
        granularity = EXCLUDED.granularity
    WHERE (s.interval_end, s.usage_bytes, s.usage_in_drive_bytes, s.usage_in_trash_bytes, s.limit_bytes,
           s.source, s.granularity)
          IS DISTINCT FROM
          (EXCLUDED.interval_end, EXCLUDED.usage_bytes, EXCLUDED.usage_in_drive_bytes,
           EXCLUDED.usage_in_trash_bytes, EXCLUDED.limit_bytes, EXCLUDED.source, EXCLUDED.granularity)
      -- History from Admin Reports only fills holes: it never replaces what Drive itself reported.
      AND NOT (EXCLUDED.source = 'reports_usage' AND s.source <> 'reports_usage')
    RETURNING s.account_id
)
SELECT (e.account_id IS NULL) AS inserted
FROM upserted u
LEFT JOIN existing e ON e.account_id = u.account_id
