-- A batch (keyset on account_id) of personal targets not sealed under :header (the newest key's
-- blob header), locked so a concurrent preferences change waits instead of being overwritten.
SELECT account_id AS owner, notify_targets_ciphertext AS blob
FROM monitoring_setting
WHERE notify_targets_ciphertext IS NOT NULL
  AND substring(notify_targets_ciphertext FROM 1 FOR :header_length) <> :header
  AND account_id > :after
ORDER BY account_id
LIMIT :limit
FOR UPDATE
