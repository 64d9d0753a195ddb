-- One account with its newest usage (from the read model, NULLs before the first snapshot) and its
-- own threshold settings (NULL: the global ones apply).
SELECT a.id AS account_id, a.email, a.status AS account_status,
       l.interval_start, l.interval_end, l.collected_at, l.usage_bytes, l.usage_in_drive_bytes,
       l.usage_in_trash_bytes, l.limit_bytes, l.usage_percent, l.level,
       l.usage_bytes - l.usage_bytes_24h_ago AS growth_24h_bytes,
       l.usage_bytes - l.usage_bytes_7d_ago AS growth_7d_bytes,
       coalesce(ms.alerts_enabled, true) AS alerts_enabled,
       ms.warning_threshold_percent,
       ms.critical_threshold_percent
FROM google_account a
LEFT JOIN storage_latest l ON l.account_id = a.id
LEFT JOIN monitoring_setting ms ON ms.account_id = a.id
WHERE a.id = :account_id
