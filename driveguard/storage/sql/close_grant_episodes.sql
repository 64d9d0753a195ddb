-- Close the open episode of every account that is active again (a sign-in or a refresh succeeded).
-- Row locks serialise concurrent sweeps: the second finds the episode closed and returns nothing.
WITH closed AS (
    UPDATE grant_episode e
    SET recovered_at = :now, updated_at = :now
    FROM google_account a
    WHERE a.id = e.account_id
      AND e.recovered_at IS NULL
      AND a.status = 'active'
    RETURNING e.id, e.account_id, e.reason, e.started_at
)
SELECT c.id AS episode_id, c.account_id, c.reason, c.started_at, a.email, ms.notify_targets_ciphertext
FROM closed c
JOIN google_account a ON a.id = c.account_id
LEFT JOIN monitoring_setting ms ON ms.account_id = c.account_id
