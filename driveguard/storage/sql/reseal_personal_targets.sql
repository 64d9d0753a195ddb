-- Store a personal target list re-sealed under the newest key.
UPDATE monitoring_setting SET notify_targets_ciphertext = :blob WHERE account_id = :owner
