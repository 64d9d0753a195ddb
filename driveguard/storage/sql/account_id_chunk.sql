-- The next chunk of account ids (keyset), whatever their status.
SELECT id FROM google_account WHERE id > :after ORDER BY id LIMIT :limit
