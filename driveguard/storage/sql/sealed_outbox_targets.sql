-- A batch (keyset on id) of outbox targets not sealed under :header (the newest key's blob header).
SELECT id AS owner, target_ciphertext AS blob
FROM notification_outbox
WHERE substring(target_ciphertext FROM 1 FOR :header_length) <> :header
  AND id > :after
ORDER BY id
LIMIT :limit
FOR UPDATE
