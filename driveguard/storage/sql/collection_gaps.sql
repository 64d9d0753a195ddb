-- The collection gap of an interval: active accounts (no erasure requested) that have no snapshot
-- for it, with what the account itself says about why (its last token error). Queryable at any time:
-- the interval's quality summary lists the same ids, with the reason its collect tries recorded.
SELECT a.id::text AS account_id, a.email, a.last_refresh_error
FROM google_account a
WHERE a.status = 'active'
  AND a.erasure_requested_at IS NULL
  AND (CAST(:planned_through AS uuid) IS NULL OR a.id <= CAST(:planned_through AS uuid))  -- see collection_coverage.sql
  AND NOT EXISTS (
      SELECT 1 FROM storage_snapshot s
      WHERE s.account_id = a.id AND s.interval_start = :interval_start AND s.granularity = 'raw'
  )
ORDER BY a.id
LIMIT :limit
