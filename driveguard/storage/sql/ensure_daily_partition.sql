-- Create (if missing) the daily series' partition (a year) that holds :at; returns its name. For
-- writers of daily rows only (backfill, downsampling): they never need a raw month.
SELECT ensure_storage_snapshot_partition(:at, 'daily')
