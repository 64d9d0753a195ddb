-- One-time sign-in states that expired before :cutoff (consumed or abandoned), a chunk at a time.
DELETE FROM oauth_login_state
WHERE id IN (SELECT id FROM oauth_login_state WHERE expires_at < :cutoff LIMIT :limit)
