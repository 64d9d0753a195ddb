-- Driveguard's accounts among the e-mail addresses (lower case) a usage report names: every
-- account not revoked and not being erased gets the report's figures.
SELECT lower(email) AS email, id
FROM google_account
WHERE lower(email) = ANY(CAST(:emails AS text[]))
  AND status <> 'revoked'
  AND erasure_requested_at IS NULL
