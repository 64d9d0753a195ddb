-- Step 2 of downsampling: the raw rows before :cutoff of the chunk's accounts, now summarised
-- by their daily rows (written by step 1 in the same transaction).
DELETE FROM storage_snapshot
WHERE account_id = ANY(CAST(:account_ids AS uuid[]))
  AND granularity = 'raw'
  AND interval_start < :cutoff
