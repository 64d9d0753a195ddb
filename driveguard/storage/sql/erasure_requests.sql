-- GDPR erasure: accounts whose owner asked to be erased, oldest request first.
SELECT id, email, erasure_requested_at
FROM google_account
WHERE erasure_requested_at IS NOT NULL
ORDER BY erasure_requested_at, id
