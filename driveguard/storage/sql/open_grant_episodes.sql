-- Open an episode for every account that needs re-consent and has none open (at most one open per
-- account: the partial unique index; a concurrent sweep's insert waits and then does nothing). Returns
-- what the notices need: the email and the person's sealed targets.
WITH opened AS (
    INSERT INTO grant_episode (id, account_id, reason, started_at, created_at, updated_at)
    SELECT gen_random_uuid(), a.id, a.last_refresh_error, :now, :now, :now
    FROM google_account a
    WHERE a.status = 'reauth_required'
      AND NOT EXISTS (SELECT 1 FROM grant_episode e WHERE e.account_id = a.id AND e.recovered_at IS NULL)
    ON CONFLICT (account_id) WHERE recovered_at IS NULL DO NOTHING
    RETURNING id, account_id, reason, started_at
)
SELECT o.id AS episode_id, o.account_id, o.reason, o.started_at, a.email, ms.notify_targets_ciphertext
FROM opened o
JOIN google_account a ON a.id = o.account_id
LEFT JOIN monitoring_setting ms ON ms.account_id = o.account_id
