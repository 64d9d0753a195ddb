-- The overview page: each account's latest usage and level from the pre-aggregated read model
-- (one row per account, no scan of the snapshot history), with 24 h and 7 day growth.
SELECT a.id AS account_id, a.email, a.status AS account_status,
       l.interval_start, l.interval_end, l.collected_at, l.usage_bytes, l.usage_in_drive_bytes,
       l.usage_in_trash_bytes, l.limit_bytes, l.usage_percent, l.level,
       l.usage_bytes - l.usage_bytes_24h_ago AS growth_24h_bytes,
       l.usage_bytes - l.usage_bytes_7d_ago AS growth_7d_bytes
FROM storage_latest l
JOIN google_account a ON a.id = l.account_id
WHERE (CAST(:level AS text) IS NULL OR l.level = CAST(:level AS warning_level))
ORDER BY l.usage_percent DESC NULLS LAST, a.email
LIMIT :limit OFFSET :offset
