-- The overview page: each account's latest usage and level from the pre-aggregated read model
-- (one row per account, no scan of the snapshot history), with 24 h and 7 day growth. Fullest
-- first, never-measured quotas (unlimited) last: the order of the index on
-- (coalesce(usage_percent, -1), account_id) read backwards (or, for one level, of
-- (level, coalesce(usage_percent, -1), account_id); migration 0009), so a page reads its own rows
-- and nothing else. Python (driveguard/storage/overview.py) fills /*WHERE*/ from fixed fragments
-- only: the level filter and the keyset condition after the previous page's last row.
SELECT a.id AS account_id, a.email, a.status AS account_status,
       l.interval_start, l.interval_end, l.collected_at, l.usage_bytes, l.usage_in_drive_bytes,
       l.usage_in_trash_bytes, l.limit_bytes, l.usage_percent, l.level,
       l.usage_bytes - l.usage_bytes_24h_ago AS growth_24h_bytes,
       l.usage_bytes - l.usage_bytes_7d_ago AS growth_7d_bytes
FROM storage_latest l
JOIN google_account a ON a.id = l.account_id
WHERE /*WHERE*/
ORDER BY coalesce(l.usage_percent, -1) DESC, l.account_id DESC
LIMIT :limit OFFSET :offset
