-- Shards (keyset ranges over google_account.id) of active accounts whose access token is
-- missing or expires before :horizon. Each row is one mapped task's work: a range plus a count.
-- :shard_size accounts per shard.
WITH due AS (
    SELECT id
    FROM google_account
    WHERE status = 'active'
      AND refresh_token_ciphertext IS NOT NULL
      AND erasure_requested_at IS NULL
      AND (access_token_expires_at IS NULL OR access_token_expires_at < :horizon)
), numbered AS (
    SELECT id, (row_number() OVER (ORDER BY id) - 1) / :shard_size AS shard
    FROM due
)
SELECT shard,
       count(*) AS accounts,
       (array_agg(id ORDER BY id))[1] AS first_id,
       (array_agg(id ORDER BY id DESC))[1] AS last_id
FROM numbered
GROUP BY shard
ORDER BY shard
