-- How many accounts are due for a token refresh before :horizon (sizes the refresh shards).
SELECT count(*) FROM refresh_due_accounts(:horizon)
