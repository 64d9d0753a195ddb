-- The accounts of one refresh shard that are (still) due.
SELECT id
FROM google_account
WHERE id BETWEEN :first_id AND :last_id
  AND status = 'active'
  AND refresh_token_ciphertext IS NOT NULL
  AND erasure_requested_at IS NULL
  AND (access_token_expires_at IS NULL OR access_token_expires_at < :horizon)
ORDER BY id
