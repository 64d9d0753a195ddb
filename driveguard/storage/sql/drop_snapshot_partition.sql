-- Drop one leaf of the snapshot tree (a raw month past retention, already downsampled). False when
-- :name is not such a leaf (already dropped). Fails fast (SQLSTATE 55P03) when history reads hold
-- the subtree longer than the function's lock_timeout: the next cleanup run drops it.
SELECT drop_storage_snapshot_partition(:name)
