-- The active accounts of one collection shard; with :only_missing, only those that have no
-- snapshot for the interval yet (a retried task does not spend Google quota twice). Only the hourly
-- series counts: a backfilled daily row at midnight is another series, not this interval's snapshot.
SELECT a.id
FROM google_account a
WHERE a.id BETWEEN :first_id AND :last_id
  AND a.status = 'active'
  AND a.erasure_requested_at IS NULL
  AND (
      NOT :only_missing
      OR NOT EXISTS (
          SELECT 1 FROM storage_snapshot s
          WHERE s.account_id = a.id AND s.interval_start = :interval_start AND s.granularity = 'raw'
      )
  )
ORDER BY a.id
