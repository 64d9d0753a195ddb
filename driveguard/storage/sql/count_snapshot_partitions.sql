-- How many leaf partitions storage_snapshot has (raw months and daily years): counted before and
-- after ensuring the coming months, so the partition naming stays in ensure_storage_snapshot_partition.
SELECT count(*) FROM pg_partition_tree(CAST('storage_snapshot' AS regclass)) WHERE isleaf
