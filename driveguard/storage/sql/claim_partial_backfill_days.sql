-- Partial Reports days whose retry time has come (last fetched at or before :due), oldest first, at
-- most :limit, never :exclude (the run's own day). Claimed for this run: moving last_attempt_at to
-- :now makes a concurrent run skip them (SKIP LOCKED while this runs, then not due any more), and a
-- fetch that fails later leaves the day due again one retry period on.
UPDATE backfill_day AS b
SET last_attempt_at = :now
WHERE b.day IN (
    SELECT d.day
    FROM backfill_day AS d
    WHERE d.status = 'partial' AND d.last_attempt_at <= :due AND d.day <> :exclude
    ORDER BY d.day
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
RETURNING b.day
