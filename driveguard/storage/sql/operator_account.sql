-- One account by id or by email (case-insensitive) with its latest usage, for `driveguard storage show`.
SELECT a.id AS account_id, a.email, a.status::text AS status,
       l.usage_bytes, l.limit_bytes, l.usage_percent, l.level::text AS level, l.collected_at,
       l.usage_bytes - l.usage_bytes_7d_ago AS growth_7d_bytes
FROM google_account a
LEFT JOIN storage_latest l ON l.account_id = a.id
WHERE a.id = CAST(:account_id AS uuid) OR lower(a.email) = lower(:email)
ORDER BY a.email, a.id
