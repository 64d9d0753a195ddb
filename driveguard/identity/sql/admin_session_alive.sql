-- Is the Google session behind an admin token still live, and its account's grant not revoked?
-- Two primary-key lookups: run on every request that presents such a token.
SELECT 1
FROM user_session AS s
JOIN google_account AS a ON a.id = s.account_id
WHERE s.id = :session_id
  AND s.account_id = :account_id
  AND s.revoked_at IS NULL
  AND s.expires_at > :now
  AND a.status <> 'revoked'
