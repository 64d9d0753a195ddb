-- One point per UTC day for an account since :since: the day's last snapshot (a Reports daily row
-- or the newest collection of that day), quarantined or not, through the (account, interval) key.
SELECT DISTINCT ON (day) CAST(s.interval_start AT TIME ZONE 'UTC' AS date) AS day,
       s.usage_bytes, s.limit_bytes, s.source
FROM storage_snapshot s
WHERE s.account_id = :account_id AND s.interval_start >= :since
ORDER BY day, s.interval_start DESC, s.granularity = 'daily'
