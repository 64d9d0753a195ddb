-- Shards (keyset ranges over google_account.id) of the active accounts to collect.
WITH active AS (
    SELECT id
    FROM google_account
    WHERE status = 'active' AND erasure_requested_at IS NULL
), numbered AS (
    SELECT id, (row_number() OVER (ORDER BY id) - 1) / :shard_size AS shard
    FROM active
)
SELECT shard,
       count(*) AS accounts,
       (array_agg(id ORDER BY id))[1] AS first_id,
       (array_agg(id ORDER BY id DESC))[1] AS last_id
FROM numbered
GROUP BY shard
ORDER BY shard
