-- The overview totals counted over the whole read model: what the pre-aggregate
-- (storage_overview_totals.sql) must always equal. For checks (tests, `driveguard` operators), not for requests.
SELECT count(*) AS accounts,
       count(*) FILTER (WHERE level = 'normal') AS normal,
       count(*) FILTER (WHERE level = 'warning') AS warning,
       count(*) FILTER (WHERE level = 'critical') AS critical,
       count(*) FILTER (WHERE limit_bytes IS NULL) AS unlimited,
       coalesce(sum(usage_bytes), 0) AS usage_bytes,
       max(interval_end) AS latest_interval_end
FROM storage_latest
