-- One chunk (keyset on account_id) of the interval's snapshots with everything the alert state
-- machine needs: per-account settings (the personal targets sealed), the current state and the account's
-- email. Quarantined rows (quarantined_snapshots.sql, passed in as :quarantined) are left out. Alerts follow
-- the hourly series: a backfilled daily row at the same midnight is history, not this interval's reading.
SELECT s.account_id,
       a.email,
       s.interval_start,
       s.interval_end,
       s.usage_bytes,
       s.limit_bytes,
       coalesce(ms.alerts_enabled, true) AS alerts_enabled,
       ms.warning_threshold_percent,
       ms.critical_threshold_percent,
       ms.notify_targets_ciphertext,
       st.level AS current_level,
       st.level_since,
       st.last_notified_at,
       st.evaluated_interval_start
FROM storage_snapshot s
JOIN google_account a ON a.id = s.account_id
LEFT JOIN monitoring_setting ms ON ms.account_id = s.account_id
LEFT JOIN alert_state st ON st.account_id = s.account_id
WHERE s.interval_start = :interval_start
  AND s.granularity = 'raw'
  AND s.account_id > :after
  AND NOT (s.account_id = ANY(CAST(:quarantined AS uuid[])))
ORDER BY s.account_id
LIMIT :limit
