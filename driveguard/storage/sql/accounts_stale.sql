-- The admin overview's "stale": active accounts whose newest snapshot was collected before :cutoff
-- (two collection intervals ago), or that have none yet; oldest first. The read model's
-- (collected_at, account_id) index serves the order (migration 0008).
SELECT a.id AS account_id, a.email, a.status AS account_status,
       l.usage_bytes AS used_bytes, l.limit_bytes, l.usage_percent, l.level, l.collected_at,
       l.usage_bytes - l.usage_bytes_24h_ago AS growth_24h_bytes,
       l.usage_bytes - l.usage_bytes_7d_ago AS growth_7d_bytes
FROM google_account a
LEFT JOIN storage_latest l ON l.account_id = a.id
WHERE a.status = 'active' AND (l.collected_at IS NULL OR l.collected_at < :cutoff)
ORDER BY l.collected_at ASC NULLS FIRST, a.id
LIMIT :limit
