-- One account's snapshots in [from, to), oldest first, through the snapshot key
-- (account_id, interval_start). With history_buckets.sql, the only reads of the history.
SELECT s.interval_start AS at,
       s.usage_bytes AS used_bytes,
       s.usage_bytes AS min_used_bytes,
       s.usage_bytes AS max_used_bytes,
       s.limit_bytes,
       1 AS samples
FROM storage_snapshot s
WHERE s.account_id = :account_id
  AND s.interval_start >= :from
  AND s.interval_start < :to
ORDER BY s.interval_start, s.interval_end
