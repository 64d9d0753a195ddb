-- How many accounts a collection covers (active, no erasure requested): sizes the shards.
SELECT count(*)
FROM google_account
WHERE status = 'active' AND erasure_requested_at IS NULL
