-- The interval's snapshots that fail a row check: they are held back from alerting (quarantined)
-- and listed in the quality summary (the schema already refuses a negative usage; this stays as
-- a second line). Usage above the limit is not here: Google reports it for
-- accounts whose plan lapsed, it is a fact (and critical), not a data error.
SELECT s.account_id,
       CASE
           WHEN s.usage_bytes < 0 THEN 'usage is negative'
           ELSE 'limit is negative'
       END AS reason
FROM storage_snapshot s
WHERE s.interval_start = :interval_start
  AND s.granularity = 'raw'
  AND (s.usage_bytes < 0 OR s.limit_bytes < 0)
ORDER BY s.account_id
