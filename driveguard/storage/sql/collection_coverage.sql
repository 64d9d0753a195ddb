-- How many active accounts (no erasure requested) an interval should cover, and how many of them
-- have a snapshot (of the hourly series) for it.
SELECT count(*) AS active_accounts,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM storage_snapshot s
           WHERE s.account_id = a.id AND s.interval_start = :interval_start AND s.granularity = 'raw'
       )) AS with_snapshot
FROM google_account a
WHERE a.status = 'active' AND a.erasure_requested_at IS NULL
