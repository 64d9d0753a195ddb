-- Step 2 of downsampling the boundary month (a month only partly past retention): the chunk's raw
-- rows in [:from, :cutoff), now summarised by their daily rows (step 1, same transaction).
DELETE FROM storage_snapshot
WHERE account_id = ANY(CAST(:account_ids AS uuid[]))
  AND granularity = 'raw'
  AND interval_start >= :from
  AND interval_start < :cutoff
