-- Create (if missing) the partitions that hold :at in both series: the raw (hourly) month and the
-- daily year. Returns the raw month's name. There is no default partition: a row is only written
-- where a partition was ensured first.
SELECT raw_month
FROM (
    SELECT ensure_storage_snapshot_partition(:at, 'daily') AS daily_year,
           ensure_storage_snapshot_partition(:at, 'raw') AS raw_month
) ensured
