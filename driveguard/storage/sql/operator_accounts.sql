-- The operator's account list (`driveguard accounts list`): every account with its grant status and,
-- once collected, its latest usage and level from the read model (one row per account, no history scan).
SELECT a.id AS account_id, a.email, a.status::text AS status,
       l.usage_bytes, l.limit_bytes, l.usage_percent, l.level::text AS level, l.collected_at
FROM google_account a
LEFT JOIN storage_latest l ON l.account_id = a.id
WHERE (CAST(:level AS text) IS NULL OR l.level = CAST(:level AS warning_level))
ORDER BY l.account_id IS NULL, l.usage_percent DESC NULLS LAST, l.usage_bytes DESC NULLS LAST, a.email, a.id
