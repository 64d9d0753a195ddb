-- Store one account's alert preferences whole (the service merged the change with the stored values).
INSERT INTO monitoring_setting (
    account_id, alerts_enabled, warning_threshold_percent, critical_threshold_percent, notify_targets_ciphertext,
    updated_at
)
VALUES (:account_id, :alerts_enabled, :warning, :critical, :targets, :now)
ON CONFLICT (account_id) DO UPDATE
SET alerts_enabled = EXCLUDED.alerts_enabled,
    warning_threshold_percent = EXCLUDED.warning_threshold_percent,
    critical_threshold_percent = EXCLUDED.critical_threshold_percent,
    notify_targets_ciphertext = EXCLUDED.notify_targets_ciphertext,
    updated_at = EXCLUDED.updated_at
