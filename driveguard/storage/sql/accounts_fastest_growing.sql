-- The admin overview's "fastest growing": accounts by their 7-day growth from the read model
-- (one row per account; never the snapshot history). Accounts without a 7-day baseline are left out.
SELECT a.id AS account_id, a.email, a.status AS account_status,
       l.usage_bytes AS used_bytes, l.limit_bytes, l.usage_percent, l.level, l.collected_at,
       l.usage_bytes - l.usage_bytes_24h_ago AS growth_24h_bytes,
       l.usage_bytes - l.usage_bytes_7d_ago AS growth_7d_bytes
FROM storage_latest l
JOIN google_account a ON a.id = l.account_id
WHERE l.usage_bytes_7d_ago IS NOT NULL AND l.usage_bytes > l.usage_bytes_7d_ago
ORDER BY l.usage_bytes - l.usage_bytes_7d_ago DESC, a.id
LIMIT :limit
