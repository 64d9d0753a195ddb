-- The pre-aggregated overview row of each account in the chunk: newest snapshot, level, and the
-- usage one day and one week earlier (for trends), read through the (account, interval, granularity)
-- key. The newest row is the interval's hourly (`raw`) row, never a backfilled daily row at the same
-- midnight; the earlier figures come from either series, the hourly row first where both start together.
INSERT INTO storage_latest AS l (
    account_id, interval_start, interval_end, collected_at, usage_bytes, usage_in_drive_bytes,
    usage_in_trash_bytes, limit_bytes, usage_percent, level, usage_bytes_24h_ago, usage_bytes_7d_ago, updated_at
)
SELECT s.account_id, s.interval_start, s.interval_end, s.collected_at, s.usage_bytes, s.usage_in_drive_bytes,
       s.usage_in_trash_bytes, s.limit_bytes,
       CASE WHEN s.limit_bytes > 0 THEN 100.0 * s.usage_bytes / s.limit_bytes END,
       coalesce(st.level, 'normal'),
       (SELECT p.usage_bytes FROM storage_snapshot p
         WHERE p.account_id = s.account_id AND p.interval_start <= s.interval_start - interval '24 hours'
         ORDER BY p.interval_start DESC, (p.granularity = 'raw') DESC LIMIT 1),
       (SELECT p.usage_bytes FROM storage_snapshot p
         WHERE p.account_id = s.account_id AND p.interval_start <= s.interval_start - interval '7 days'
         ORDER BY p.interval_start DESC, (p.granularity = 'raw') DESC LIMIT 1),
       :now
FROM storage_snapshot s
LEFT JOIN alert_state st ON st.account_id = s.account_id
WHERE s.interval_start = :interval_start
  AND s.granularity = 'raw'
  AND s.account_id = ANY(CAST(:account_ids AS uuid[]))
ON CONFLICT (account_id) DO UPDATE SET
    interval_start = EXCLUDED.interval_start,
    interval_end = EXCLUDED.interval_end,
    collected_at = EXCLUDED.collected_at,
    usage_bytes = EXCLUDED.usage_bytes,
    usage_in_drive_bytes = EXCLUDED.usage_in_drive_bytes,
    usage_in_trash_bytes = EXCLUDED.usage_in_trash_bytes,
    limit_bytes = EXCLUDED.limit_bytes,
    usage_percent = EXCLUDED.usage_percent,
    level = EXCLUDED.level,
    usage_bytes_24h_ago = EXCLUDED.usage_bytes_24h_ago,
    usage_bytes_7d_ago = EXCLUDED.usage_bytes_7d_ago,
    updated_at = EXCLUDED.updated_at
WHERE l.interval_start <= EXCLUDED.interval_start
