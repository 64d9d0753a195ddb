-- Create (if missing) the monthly storage_snapshot partition that holds :at.
SELECT ensure_storage_snapshot_partition(:at)
