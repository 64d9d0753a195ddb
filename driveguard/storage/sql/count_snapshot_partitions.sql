-- How many partitions storage_snapshot has (the default one included): counted before and after
-- ensuring the coming months, so the partition naming stays in ensure_storage_snapshot_partition.
SELECT count(*) FROM pg_inherits WHERE inhparent = CAST('storage_snapshot' AS regclass)
