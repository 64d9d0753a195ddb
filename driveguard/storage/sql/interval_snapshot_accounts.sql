-- The next chunk (keyset on account_id) of the accounts that have a snapshot (hourly series) for the interval.
SELECT account_id
FROM storage_snapshot
WHERE interval_start = :interval_start AND granularity = 'raw' AND account_id > :after
ORDER BY account_id
LIMIT :limit
