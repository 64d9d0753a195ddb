-- The snapshots of one collection interval (the hourly series), as the data-quality gate sees them.
SELECT s.account_id::text AS account_id, s.interval_start, s.interval_end, s.usage_bytes, s.limit_bytes,
       s.usage_in_drive_bytes, s.granularity
FROM storage_snapshot s
WHERE s.interval_start = :interval_start AND s.granularity = 'raw'
ORDER BY s.account_id
