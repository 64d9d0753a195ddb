-- One account's snapshots in [from, to) in hour or day buckets (:unit, UTC), oldest first: the
-- bucket's closing usage and quota (its newest snapshot), its lowest and highest usage, and how many
-- snapshots it holds. Reads the account's range of the snapshot key (account_id, interval_start)
-- only, so a year of daily points costs one account's rows of that year. Should a bucket hold both
-- a day's downsampled or backfilled row and measured ones, it closes on the newest measured (raw) row.
SELECT date_trunc(CAST(:unit AS text), s.interval_start, 'UTC') AS at,
       (array_agg(s.usage_bytes ORDER BY s.granularity = 'raw' DESC, s.interval_end DESC, s.interval_start DESC))[1] AS used_bytes,
       min(s.usage_bytes) AS min_used_bytes,
       max(s.usage_bytes) AS max_used_bytes,
       (array_agg(s.limit_bytes ORDER BY s.granularity = 'raw' DESC, s.interval_end DESC, s.interval_start DESC))[1] AS limit_bytes,
       count(*) AS samples
FROM storage_snapshot s
WHERE s.account_id = :account_id
  AND s.interval_start >= :from
  AND s.interval_start < :to
GROUP BY 1
ORDER BY 1
