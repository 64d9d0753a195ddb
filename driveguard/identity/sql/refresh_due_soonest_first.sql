-- The accounts due for a token refresh before :horizon, the soonest-expiring first
-- (missing tokens before all others); :limit NULL means all of them.
SELECT id
FROM refresh_due_accounts(:horizon)
ORDER BY access_token_expires_at ASC NULLS FIRST, id
LIMIT :limit
