-- Shards (keyset ranges over google_account.id) of the accounts due for a token refresh before
-- :horizon (the rule is the SQL function refresh_due_accounts, migration 0004). Each row is one
-- mapped task's work: a range plus a count, :shard_size accounts per shard.
WITH numbered AS (
    SELECT id, (row_number() OVER (ORDER BY id) - 1) / :shard_size AS shard
    FROM refresh_due_accounts(:horizon)
)
SELECT shard,
       count(*) AS accounts,
       (array_agg(id ORDER BY id))[1] AS first_id,
       (array_agg(id ORDER BY id DESC))[1] AS last_id
FROM numbered
GROUP BY shard
ORDER BY shard
