-- Step 1 of downsampling a chunk of accounts: one 'daily' row per account and UTC day of the raw
-- rows in [:from, :cutoff) (one raw month, or the part of the boundary month past retention),
-- carrying the day's LAST raw figures (storage is a level, not a flow). Upserted on
-- (account_id, day start, 'daily'): what Drive reported replaces a Reports backfill row of that day;
-- re-running it changes nothing. Step 2 is the drop of the whole month's partition, or for the
-- boundary month delete_downsampled_raw in the same transaction.
INSERT INTO storage_snapshot AS s (
    account_id, interval_start, interval_end, collected_at, usage_bytes,
    usage_in_drive_bytes, usage_in_trash_bytes, limit_bytes, source, granularity
)
SELECT d.account_id, d.day_start, d.day_start + interval '1 day', d.collected_at, d.usage_bytes,
       d.usage_in_drive_bytes, d.usage_in_trash_bytes, d.limit_bytes, d.source, 'daily'
FROM (
    SELECT DISTINCT ON (r.account_id, date_trunc('day', r.interval_start, 'UTC'))
           r.account_id,
           date_trunc('day', r.interval_start, 'UTC') AS day_start,
           r.collected_at, r.usage_bytes, r.usage_in_drive_bytes, r.usage_in_trash_bytes, r.limit_bytes, r.source
    FROM storage_snapshot r
    WHERE r.account_id = ANY(CAST(:account_ids AS uuid[]))
      AND r.granularity = 'raw'
      AND r.interval_start >= :from
      AND r.interval_start < :cutoff
    ORDER BY r.account_id, date_trunc('day', r.interval_start, 'UTC'), r.interval_start DESC
) d
ON CONFLICT (account_id, interval_start, granularity) DO UPDATE SET
    interval_end = EXCLUDED.interval_end,
    collected_at = EXCLUDED.collected_at,
    usage_bytes = EXCLUDED.usage_bytes,
    usage_in_drive_bytes = EXCLUDED.usage_in_drive_bytes,
    usage_in_trash_bytes = EXCLUDED.usage_in_trash_bytes,
    limit_bytes = EXCLUDED.limit_bytes,
    source = EXCLUDED.source,
    granularity = 'daily'
RETURNING account_id
