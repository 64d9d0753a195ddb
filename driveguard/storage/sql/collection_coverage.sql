-- How many active accounts (no erasure requested) an interval should cover, and how many of them
-- have a snapshot (of the hourly series) for it. With :planned_through (the highest account id the
-- run's plan sharded), only the accounts the plan knew: a first sign-in while the run is under way
-- is the next interval's, not a gap of this one (ids are UUIDv7: a newer account has a higher id).
SELECT count(*) AS active_accounts,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM storage_snapshot s
           WHERE s.account_id = a.id AND s.interval_start = :interval_start AND s.granularity = 'raw'
       )) AS with_snapshot
FROM google_account a
WHERE a.status = 'active' AND a.erasure_requested_at IS NULL
  AND (CAST(:planned_through AS uuid) IS NULL OR a.id <= CAST(:planned_through AS uuid))
