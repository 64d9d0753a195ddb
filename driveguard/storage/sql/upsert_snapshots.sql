-- One snapshot per account, interval and series (granularity), many rows in one statement
-- (parallel arrays). The hourly (`raw`) and daily series are keyed apart, so a backfilled day never
-- meets the row collected at its midnight. A rerun with the same figures writes nothing (the WHERE
-- on DO UPDATE); changed figures update the row in place. The result names what happened to each
-- row it returns: `inserted`, `updated`, or `kept_drive` (a Reports row held back because Drive's
-- own daily figure is there); rows left untouched are not returned. `existing` sees the table as it
-- was before this statement, like every CTE of one statement.
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
    SELECT s.account_id, s.source
    FROM storage_snapshot s
    WHERE s.interval_start = :interval_start
      AND s.granularity = :granularity
      AND s.account_id IN (SELECT account_id FROM input)
), upserted AS (
    INSERT INTO storage_snapshot AS s (
        account_id, interval_start, interval_end, collected_at, usage_bytes,
        usage_in_drive_bytes, usage_in_trash_bytes, limit_bytes, source, granularity
    )
    SELECT i.account_id, :interval_start, :interval_end, :collected_at, i.usage_bytes,
           i.usage_in_drive_bytes, i.usage_in_trash_bytes, i.limit_bytes, :source, :granularity
    FROM input i
    ON CONFLICT (account_id, interval_start, granularity) DO UPDATE SET
        interval_end = EXCLUDED.interval_end,
        collected_at = EXCLUDED.collected_at,
        usage_bytes = EXCLUDED.usage_bytes,
        usage_in_drive_bytes = EXCLUDED.usage_in_drive_bytes,
        usage_in_trash_bytes = EXCLUDED.usage_in_trash_bytes,
        limit_bytes = EXCLUDED.limit_bytes,
        source = EXCLUDED.source
    WHERE (s.interval_end, s.usage_bytes, s.usage_in_drive_bytes, s.usage_in_trash_bytes, s.limit_bytes, s.source)
          IS DISTINCT FROM
          (EXCLUDED.interval_end, EXCLUDED.usage_bytes, EXCLUDED.usage_in_drive_bytes,
           EXCLUDED.usage_in_trash_bytes, EXCLUDED.limit_bytes, EXCLUDED.source)
      -- History from Admin Reports only fills holes: it never replaces what Drive itself reported.
      AND NOT (EXCLUDED.source = 'reports_usage' AND s.source <> 'reports_usage')
    RETURNING s.account_id
)
SELECT CASE WHEN e.account_id IS NULL THEN 'inserted' ELSE 'updated' END AS outcome
FROM upserted u
LEFT JOIN existing e ON e.account_id = u.account_id
UNION ALL
SELECT 'kept_drive'
FROM existing e
WHERE :source = 'reports_usage' AND e.source <> 'reports_usage'
