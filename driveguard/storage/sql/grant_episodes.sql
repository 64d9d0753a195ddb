-- Grant episodes for /me (one account) or /admin (all, :account_id NULL): open ones first, then the
-- most recent; with how their notices were delivered (grant_notice_deliveries.sql).
SELECT e.id AS episode_id, e.account_id, a.email, a.status, e.reason, e.started_at, e.recovered_at
FROM grant_episode e
JOIN google_account a ON a.id = e.account_id
WHERE (CAST(:account_id AS uuid) IS NULL OR e.account_id = CAST(:account_id AS uuid))
ORDER BY (e.recovered_at IS NULL) DESC, e.started_at DESC, e.id
LIMIT :limit
