-- The signed-in account of the configured Workspace admin (newest sign-in first) and its scopes.
SELECT id, granted_scopes
FROM google_account
WHERE lower(email) = lower(:email) AND status = 'active'
ORDER BY last_login_at DESC NULLS LAST
LIMIT 1
