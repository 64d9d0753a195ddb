-- Totals for the overview header: accounts per level and the overall usage.
SELECT count(*) AS accounts,
       count(*) FILTER (WHERE level = 'normal') AS normal,
       count(*) FILTER (WHERE level = 'warning') AS warning,
       count(*) FILTER (WHERE level = 'critical') AS critical,
       count(*) FILTER (WHERE limit_bytes IS NULL) AS unlimited,
       coalesce(sum(usage_bytes), 0) AS usage_bytes,
       max(interval_end) AS latest_interval_end
FROM storage_latest
