-- One account's alert preferences (NULL thresholds: the global ones apply).
SELECT a.id AS account_id,
       a.email,
       coalesce(ms.alerts_enabled, true) AS alerts_enabled,
       ms.warning_threshold_percent,
       ms.critical_threshold_percent,
       ms.notify_targets_ciphertext,
       ms.updated_at
FROM google_account a
LEFT JOIN monitoring_setting ms ON ms.account_id = a.id
WHERE a.id = :account_id
